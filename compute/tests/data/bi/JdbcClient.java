// What pgjdbc (the PostgreSQL JDBC driver that Metabase, Tableau, QuickSight
// and DBeaver use) sees of a database.
//
// tests/bi_clients.rs runs this against `sextant dev` and compares its output
// with PostgreSQL's recorded output (jdbc.out, written by regen.sh from the
// same program run against a real PostgreSQL holding schema.sql). It runs as
// a single-file source program: `java -cp postgresql.jar JdbcClient.java
// HOST PORT`.
//
// Each call's result is printed as a section, `### <call>` followed by the
// result set's column labels and rows (tab-separated, NULL as \N). A call that
// throws prints `ERROR <SQLSTATE>: <message>` instead, and the program goes
// on, so one run shows every difference.

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;

public class JdbcClient {
    interface Call {
        void run() throws Exception;
    }

    // The types getTypeInfo is compared on: those the reference schema uses
    // and the common scalars. PostgreSQL also lists every catalog relation's
    // row type and types Sextant does not have (ARCHITECTURE.md, "BI
    // clients").
    static final Set<String> TYPE_INFO_NAMES = Set.of(
        "bool", "bytea", "char", "name", "int8", "int2", "int4", "text", "oid", "json", "float4",
        "float8", "varchar", "date", "timestamp", "timestamptz", "interval", "numeric", "uuid",
        "jsonb", "_int4", "_text", "_int8", "_jsonb");

    static final String[] TABLES = {"events", "readings", "sites"};

    static void section(String name, Call call) {
        System.out.println("### " + name);
        try {
            call.run();
        } catch (SQLException e) {
            String message = e.getMessage() == null ? "" : e.getMessage().strip().split("\n")[0];
            System.out.println("ERROR " + e.getSQLState() + ": " + message);
        } catch (Exception e) {
            System.out.println("ERROR " + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    static String cell(Object value) {
        if (value == null) {
            return "\\N";
        }
        return value.toString().replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }

    /**
     * Prints a result set, keeping only rows whose `filterColumn` is in `keep` (if given, and then
     * sorted: the rows getTypeInfo lists come in the server's pg_type order within a type code).
     */
    static void print(ResultSet rs, String filterColumn, Set<String> keep) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        int n = md.getColumnCount();
        List<String> labels = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            labels.add(md.getColumnLabel(i));
        }
        System.out.println(String.join("\t", labels));
        List<String> lines = new ArrayList<>();
        while (rs.next()) {
            if (filterColumn != null && !keep.contains(rs.getString(filterColumn))) {
                continue;
            }
            List<String> cells = new ArrayList<>();
            for (int i = 1; i <= n; i++) {
                cells.add(cell(rs.getObject(i)));
            }
            lines.add(String.join("\t", cells));
        }
        if (filterColumn != null) {
            lines.sort(null);
        }
        lines.forEach(System.out::println);
        System.out.println("(" + lines.size() + " rows)");
        rs.close();
    }

    static void print(ResultSet rs) throws SQLException {
        print(rs, null, null);
    }

    static void describe(ResultSetMetaData md) throws SQLException {
        for (int i = 1; i <= md.getColumnCount(); i++) {
            System.out.println(String.join("\t", md.getColumnLabel(i), md.getColumnTypeName(i),
                String.valueOf(md.getColumnType(i)), String.valueOf(md.getPrecision(i)),
                String.valueOf(md.getScale(i)), String.valueOf(md.isNullable(i)),
                md.getColumnClassName(i), md.getTableName(i), String.valueOf(md.isAutoIncrement(i))));
        }
    }

    static void describe(ParameterMetaData md) throws SQLException {
        for (int i = 1; i <= md.getParameterCount(); i++) {
            System.out.println(String.join("\t", "$" + i, md.getParameterTypeName(i),
                String.valueOf(md.getParameterType(i)), md.getParameterClassName(i)));
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + ":" + args[1] + "/sextant";
        Properties props = new Properties();
        props.setProperty("user", "sextant");
        props.setProperty("password", "sextant");
        props.setProperty("ApplicationName", "JdbcClient");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            run(conn);
        }
    }

    static void run(Connection conn) throws Exception {
        DatabaseMetaData md = conn.getMetaData();
        section("getDatabaseProductName", () -> System.out.println(md.getDatabaseProductName()));
        section("getIdentifierQuoteString", () -> System.out.println(md.getIdentifierQuoteString()));
        section("getCatalogs", () -> print(md.getCatalogs()));
        section("getSchemas", () -> print(md.getSchemas()));
        section("getSchemas(public)", () -> print(md.getSchemas(null, "public")));
        section("getTableTypes", () -> print(md.getTableTypes()));
        section("getTables", () -> print(md.getTables(null, "public", "%", new String[] {"TABLE"})));
        section("getTables(all types)", () -> print(md.getTables(null, "public", "%", null)));
        for (String t : TABLES) {
            section("getColumns(" + t + ")", () -> print(md.getColumns(null, "public", t, "%")));
            section("getPrimaryKeys(" + t + ")", () -> print(md.getPrimaryKeys(null, "public", t)));
            section("getIndexInfo(" + t + ")",
                () -> print(md.getIndexInfo(null, "public", t, false, false)));
            section("getIndexInfo(" + t + ", unique)",
                () -> print(md.getIndexInfo(null, "public", t, true, false)));
            section("getImportedKeys(" + t + ")", () -> print(md.getImportedKeys(null, "public", t)));
            section("getExportedKeys(" + t + ")", () -> print(md.getExportedKeys(null, "public", t)));
        }
        section("getTypeInfo", () -> print(md.getTypeInfo(), "TYPE_NAME", TYPE_INFO_NAMES));

        String query = "SELECT e.id, e.payload->>'site_id' AS site, e.temp, e.ingested_at, s.name "
            + "FROM events e, sites s WHERE s.id = e.site_id AND e.status = ? AND e.ingested_at >= ? "
            + "ORDER BY e.id";
        section("PreparedStatement.getMetaData (before execution)", () -> {
            try (PreparedStatement ps = conn.prepareStatement(query)) {
                describe(ps.getMetaData());
            }
        });
        section("PreparedStatement.getParameterMetaData (before execution)", () -> {
            try (PreparedStatement ps = conn.prepareStatement(query)) {
                describe(ps.getParameterMetaData());
            }
        });
        // pgjdbc names the statement on the server from the 5th execution on
        // (prepareThreshold=5); the rows must stay the same on both sides of
        // that switch.
        section("PreparedStatement executed 8 times", () -> {
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT id, payload, temp, tags FROM events WHERE status = ? ORDER BY id")) {
                int[] statuses = {200, 500, 200, 404, 200, 200, 500, 200};
                for (int i = 0; i < statuses.length; i++) {
                    ps.setInt(1, statuses[i]);
                    System.out.println("execution " + (i + 1) + ": status " + statuses[i]);
                    print(ps.executeQuery());
                }
            }
        });
        section("setFetchSize cursor in a transaction", () -> {
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement()) {
                st.setFetchSize(2);
                print(st.executeQuery("SELECT id, site_id, ingested_at FROM events ORDER BY id"));
            } finally {
                conn.commit();
                conn.setAutoCommit(true);
            }
        });
        section("setFetchSize prepared cursor in a transaction", () -> {
            conn.setAutoCommit(false);
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT site_id, at, value FROM readings WHERE site_id >= ? ORDER BY site_id, at")) {
                ps.setFetchSize(1);
                ps.setInt(1, 1);
                print(ps.executeQuery());
            } finally {
                conn.commit();
                conn.setAutoCommit(true);
            }
        });
        section("ResultSet.getMetaData(events)", () -> {
            try (Statement st = conn.createStatement()) {
                ResultSet rs = st.executeQuery("SELECT * FROM events WHERE id = 1");
                describe(rs.getMetaData());
                rs.close();
            }
        });
    }
}
