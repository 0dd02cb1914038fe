package masknet.edge;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Runs ENCODING.md's conformance file and the golden records of bundles through the JVM encoder.
 *
 * <p>Usage: {@code java -cp build:guava.jar masknet.edge.Conformance CONFORMANCE.json [BUNDLE.mnb ...]
 * [--bench]}. Prints one line per check and exits 1 when anything differs.
 */
public final class Conformance {
    private Conformance() {}

    public static void main(String[] args) throws IOException {
        List<String> failures = new ArrayList<>();
        boolean bench = false;
        List<Path> bundles = new ArrayList<>();
        Path cases = null;
        for (String a : args) {
            if (a.equals("--bench")) {
                bench = true;
            } else if (cases == null) {
                cases = Path.of(a);
            } else {
                bundles.add(Path.of(a));
            }
        }
        int n = runCases(cases, failures);
        System.out.println((failures.isEmpty() ? "OK" : "FAILED") + ": " + (n - failures.size()) + "/" + n
                + " conformance cases");
        for (Path b : bundles) {
            int before = failures.size();
            int rows = runBundle(b, failures, bench);
            System.out.println((failures.size() == before ? "OK" : "FAILED") + ": " + rows
                    + " golden records of " + b.getFileName());
        }
        for (String f : failures) {
            System.out.println("  " + f);
        }
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    @SuppressWarnings("unchecked")
    static int runCases(Path file, List<String> failures) throws IOException {
        Map<String, Object> root = (Map<String, Object>) Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        List<Object> cases = (List<Object>) root.get("cases");
        for (Object o : cases) {
            Map<String, Object> c = (Map<String, Object>) o;
            String problem;
            try {
                problem = runCase(c);
            } catch (RuntimeException ex) {
                problem = "crashed: " + ex;
            }
            if (problem != null) {
                failures.add(c.get("id") + " (ENCODING.md §" + c.get("sections") + "): " + problem);
            }
        }
        return cases.size();
    }

    @SuppressWarnings("unchecked")
    static String runCase(Map<String, Object> c) {
        String kind = (String) c.get("kind");
        if (kind.equals("behaviour") || kind.equals("replay")) {
            return runBehaviour(c);
        }
        if (kind.equals("vocabulary")) {
            Map<String, Object> counts = (Map<String, Object>) c.get("counts");
            long minCount = (Long) c.get("min_count");
            List<String> kept = counts.keySet().stream()
                    .filter(t -> (Long) counts.get(t) >= minCount)
                    .sorted(Comparator.comparing((String t) -> -(Long) counts.get(t)).thenComparing(Conformance::byCodePoints))
                    .collect(Collectors.toList());
            if (c.get("max_vocab") != null) {
                kept = kept.subList(0, (int) Math.min(kept.size(), (Long) c.get("max_vocab")));
            }
            return kept.equals(c.get("expected")) ? null : "vocabulary " + kept;
        }
        if (kind.equals("rank")) {
            List<Object> scores = (List<Object>) c.get("scores");
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < scores.size(); i++) {
                order.add(i);
            }
            order.sort(Comparator.comparing((Integer i) -> -(float) ((Number) scores.get(i)).doubleValue())
                    .thenComparing(i -> i)); // §9.2: score descending, ties by candidate order
            List<Long> top = order.subList(0, (int) Math.min(order.size(), (Long) c.get("k"))).stream()
                    .map(Long::valueOf).collect(Collectors.toList());
            return top.equals(c.get("expected")) ? null : "top-k " + top;
        }
        Spec spec = Spec.parse(toJson(c.get("spec")));
        List<Map<String, Object>> records = new ArrayList<>();
        if (kind.equals("request")) { // §1.2: the same as encoding context ∪ candidate records
            Map<String, Object> ctx = (Map<String, Object>) decode(c.get("context"));
            for (Object cand : (List<Object>) decode(c.get("candidates"))) {
                Map<String, Object> r = new HashMap<>(ctx);
                r.putAll((Map<String, Object>) cand);
                records.add(r);
            }
        } else {
            for (Object r : (List<Object>) decode(c.get("records"))) {
                records.add((Map<String, Object>) r);
            }
        }
        Map<String, Object> got;
        try {
            got = new Encoder(spec).encode(records);
        } catch (EncodeException ex) {
            Map<String, Object> want = (Map<String, Object>) c.get("error");
            if (want == null) {
                return "unexpected error: " + ex.getMessage();
            }
            if (!ex.field.equals(want.get("field")) || ex.record != ((Long) want.get("record")).intValue()) {
                return "error names " + ex.getMessage() + "; expected " + want;
            }
            return null;
        }
        if (c.containsKey("error")) {
            return "expected an error " + c.get("error");
        }
        return compare(got, (Map<String, Object>) c.get("expected"));
    }

    /** §10: the events of a case, then the columns of a request at its time; or a replay. */
    @SuppressWarnings("unchecked")
    static String runBehaviour(Map<String, Object> c) {
        Behaviour behaviour = new Behaviour((Map<String, Object>) c.get("spec"));
        if (c.get("kind").equals("replay")) {
            List<Map<String, Object>> rows = new ArrayList<>();
            for (Object r : (List<Object>) decode(c.get("rows"))) {
                rows.add((Map<String, Object>) r);
            }
            List<Map<String, Object>> got = behaviour.replay(rows, (String) c.get("user"), (String) c.get("time"));
            List<Object> expected = (List<Object>) c.get("expected");
            for (int i = 0; i < expected.size(); i++) {
                for (Map.Entry<String, Object> e : ((Map<String, Object>) expected.get(i)).entrySet()) {
                    String problem = sameValues(got.get(i).get(e.getKey()), e.getValue(), "row " + i + " " + e.getKey());
                    if (problem != null) {
                        return problem;
                    }
                }
            }
            return null;
        }
        Behaviour.State state = behaviour.new State();
        int record = 0;
        for (Object o : (List<Object>) c.get("events")) {
            List<Object> event = (List<Object>) o;
            state.add((String) event.get(0), (Map<String, Object>) decode(event.get(2)),
                    ((Number) event.get(1)).doubleValue(), record++);
        }
        double now = ((Number) c.get("now")).doubleValue();
        Map<String, Object> expected = (Map<String, Object>) c.get("expected");
        Map<String, Object> context = state.contextValues(now);
        for (Map.Entry<String, Object> e : ((Map<String, Object>) expected.get("context")).entrySet()) {
            String problem = sameValues(context.get(e.getKey()), e.getValue(), e.getKey());
            if (problem != null) {
                return problem;
            }
        }
        List<Map<String, Object>> candidates = new ArrayList<>();
        for (Object o : (List<Object>) decode(c.get("candidates"))) {
            candidates.add((Map<String, Object>) o);
        }
        Map<String, double[]> items = state.itemValues(candidates, now);
        for (Map.Entry<String, Object> e : ((Map<String, Object>) expected.get("items")).entrySet()) {
            String problem = sameValues(items.get(e.getKey()), e.getValue(), e.getKey());
            if (problem != null) {
                return problem;
            }
        }
        return null;
    }

    /** Behaviour values: lists of texts exactly, numbers within 1e-12 relative, null as missing. */
    @SuppressWarnings("unchecked")
    static String sameValues(Object got, Object want, String where) {
        if (want == null || got == null) {
            return want == got ? null : where + ": got " + got + ", expected " + want;
        }
        if (want instanceof List && (((List<Object>) want).isEmpty() || ((List<Object>) want).get(0) instanceof String)) {
            return want.equals(got) ? null : where + ": got " + got + ", expected " + want;
        }
        double[] have;
        if (got instanceof double[]) {
            have = (double[]) got;
        } else {
            have = new double[] {((Number) got).doubleValue()};
        }
        List<Object> wanted = want instanceof List ? (List<Object>) want : List.of(want);
        if (have.length != wanted.size()) {
            return where + ": got " + have.length + " values, expected " + wanted.size();
        }
        for (int i = 0; i < have.length; i++) {
            double w = ((Number) wanted.get(i)).doubleValue();
            if (Math.abs(have[i] - w) > Math.max(1e-12 * Math.max(Math.abs(have[i]), Math.abs(w)), 1e-12)) {
                return where + ": got " + java.util.Arrays.toString(have) + ", expected " + wanted;
            }
        }
        return null;
    }

    private static int byCodePoints(String a, String b) {
        return java.util.Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
    }

    /** Exact comparison of encoded arrays with expected JSON rows (floats as float32). */
    @SuppressWarnings("unchecked")
    static String compare(Map<String, Object> got, Map<String, Object> expected) {
        if (!got.keySet().equals(expected.keySet())) {
            return "inputs " + got.keySet() + " != expected " + expected.keySet();
        }
        for (Map.Entry<String, Object> e : expected.entrySet()) {
            List<Object> rows = (List<Object>) e.getValue();
            Object arr = got.get(e.getKey());
            for (int r = 0; r < rows.size(); r++) {
                List<Object> row = (List<Object>) rows.get(r);
                for (int k = 0; k < row.size(); k++) {
                    double want = ((Number) row.get(k)).doubleValue();
                    boolean same;
                    double have;
                    if (arr instanceof int[][]) {
                        have = ((int[][]) arr)[r][k];
                        same = have == want;
                    } else {
                        float h = ((float[][]) arr)[r][k];
                        have = h;
                        same = Float.compare(h, (float) want) == 0;
                    }
                    if (!same) {
                        return e.getKey() + "[" + r + "][" + k + "] = " + have + ", expected " + want;
                    }
                }
            }
        }
        return null;
    }

    /** The tags of the conformance format: {"$float": ...}, {"$bytes": hex}. */
    @SuppressWarnings("unchecked")
    static Object decode(Object v) {
        if (v instanceof Map) {
            Map<String, Object> m = (Map<String, Object>) v;
            if (m.size() == 1 && m.containsKey("$float")) {
                String s = (String) m.get("$float");
                return s.equals("nan") ? Double.NaN : s.equals("inf") ? Double.POSITIVE_INFINITY
                        : Double.NEGATIVE_INFINITY;
            }
            if (m.size() == 1 && m.containsKey("$bytes")) {
                String hex = (String) m.get("$bytes");
                byte[] b = new byte[hex.length() / 2];
                for (int i = 0; i < b.length; i++) {
                    b[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
                }
                return b;
            }
            Map<String, Object> out = new HashMap<>();
            for (Map.Entry<String, Object> e : m.entrySet()) {
                out.put(e.getKey(), decode(e.getValue()));
            }
            return out;
        }
        if (v instanceof List) {
            List<Object> out = new ArrayList<>();
            for (Object x : (List<Object>) v) {
                out.add(decode(x));
            }
            return out;
        }
        return v;
    }

    /** Back to JSON text, for the spec reader (only the types the reader produces). */
    @SuppressWarnings("unchecked")
    static String toJson(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof String) {
            StringBuilder sb = new StringBuilder("\"");
            for (char ch : ((String) v).toCharArray()) {
                if (ch == '"' || ch == '\\') {
                    sb.append('\\').append(ch);
                } else if (ch < 0x20 || ch > 0x7e) {
                    sb.append(String.format("\\u%04x", (int) ch));
                } else {
                    sb.append(ch);
                }
            }
            return sb.append('"').toString();
        }
        if (v instanceof Map) {
            return ((Map<String, Object>) v).entrySet().stream()
                    .map(e -> toJson(e.getKey()) + ":" + toJson(e.getValue()))
                    .collect(Collectors.joining(",", "{", "}"));
        }
        if (v instanceof List) {
            return ((List<Object>) v).stream().map(Conformance::toJson).collect(Collectors.joining(",", "[", "]"));
        }
        if (v instanceof Double) {
            return Double.toString((Double) v);
        }
        return v.toString();
    }

    /** The golden records of a bundle: the spec is read from the bundle, the arrays must be exact. */
    @SuppressWarnings("unchecked")
    static int runBundle(Path bundle, List<String> failures, boolean bench) throws IOException {
        String specJson;
        Map<String, Object> golden;
        try (ZipFile zip = new ZipFile(bundle.toFile())) {
            specJson = read(zip, "spec.json");
            golden = (Map<String, Object>) Json.parse(read(zip, "golden.json"));
        }
        Spec spec = Spec.parse(specJson);
        List<Map<String, Object>> records = new ArrayList<>();
        for (Object r : (List<Object>) golden.get("records")) {
            records.add((Map<String, Object>) r);
        }
        String problem = compare(new Encoder(spec).encode(records), (Map<String, Object>) golden.get("encoded"));
        if (problem != null) {
            failures.add(bundle.getFileName() + ": " + problem);
        }
        if (bench) {
            benchmark(spec, records);
        }
        return records.size();
    }

    private static String read(ZipFile zip, String name) throws IOException {
        ZipEntry e = zip.getEntry(name);
        if (e == null) {
            throw new IOException("the bundle has no " + name);
        }
        return new String(zip.getInputStream(e).readAllBytes(), StandardCharsets.UTF_8);
    }

    /** Field values encoded per second on this thread, caches warm (as in a ranker), printed as JSON. */
    private static void benchmark(Spec spec, List<Map<String, Object>> records) {
        int fields = 0;
        for (Spec.Field f : spec.fields) {
            fields += "cross".equals(f.kind) ? 0 : 1;
        }
        List<Map<String, Object>> batch = new ArrayList<>();
        while (batch.size() < 1000) {
            batch.addAll(records);
        }
        Encoder enc = new Encoder(spec);
        long values = 0;
        long end = System.nanoTime() + 1_000_000_000L;
        while (System.nanoTime() < end) { // warm-up
            enc.encode(batch);
        }
        long start = System.nanoTime();
        end = start + 2_000_000_000L;
        while (System.nanoTime() < end) {
            enc.encode(batch);
            values += (long) batch.size() * fields;
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf(java.util.Locale.ROOT, "{\"field_values_per_s\": %.0f, \"fields\": %d, \"rows\": %d}%n",
                values / seconds, fields, batch.size());
    }
}
