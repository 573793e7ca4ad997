/* stub analytics for the demo site: does nothing */
(function () { window.llnewsAnalytics = { track: function () {} }; })();
