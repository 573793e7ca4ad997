// Progressive enhancement of the search form: a changed filter checkbox or sort submits the form at once.
// Without scripts the "Apply" button does the same. A file, not inline: the Content-Security-Policy allows none.
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target && target.hasAttribute && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});
