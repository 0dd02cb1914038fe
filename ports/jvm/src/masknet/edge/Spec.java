package masknet.edge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The fitted feature spec of a bundle and its id layout (ENCODING.md §1, §2). */
public final class Spec {
    /** One field of the spec, with its place in the shared embedding table. */
    public static final class Field {
        public String name;
        public String kind;
        public String side;
        public boolean required;
        // categorical and multi_categorical (§3, §4, §5)
        public String valueType = "text";
        public long hashBuckets;
        public Map<String, Integer> vocabulary = new HashMap<>();
        public int maxLength;
        public String separator = "|";
        /** §2.3: the categorical field whose id space and table rows a multi-valued field uses. */
        public String shares;
        // numeric (§7)
        public String transform = "standardize";
        public String column;
        public Double mean, std, min, max, dflt;
        public double clip = 1e6;
        public double[] boundaries;
        // cross (§6)
        public List<String> crossed = new ArrayList<>();
        // layout (§2)
        public int offset;
        public int size;
        // per-field caches of the encoder: canonical text -> id / fingerprint; fingerprints of bins
        final Map<String, Integer> ids = new HashMap<>();
        final Map<String, Long> fingerprints = new HashMap<>();
        long[] binFingerprints;
        boolean inCross;
        int index;

        public boolean isBucketized() {
            return "numeric".equals(kind) && "bucketize".equals(transform);
        }

        public boolean isIdField() {
            return "categorical".equals(kind) || "cross".equals(kind) || isBucketized();
        }
    }

    public final List<Field> fields = new ArrayList<>();
    public final List<Field> idFields = new ArrayList<>();
    public final List<Field> denseFields = new ArrayList<>();
    public final List<Field> multiFields = new ArrayList<>();
    public final Map<String, Field> byName = new HashMap<>();
    public int totalRows;

    /** Read a spec from its JSON text (the bundle's spec.json). */
    @SuppressWarnings("unchecked")
    public static Spec parse(String json) {
        Map<String, Object> root = (Map<String, Object>) Json.parse(json);
        Object version = root.getOrDefault("format_version", 1L);
        if (!Long.valueOf(1).equals(version)) {
            throw new IllegalArgumentException("spec format_version " + version + " is not 1");
        }
        Spec spec = new Spec();
        for (Object o : (List<Object>) root.get("fields")) {
            spec.add((Map<String, Object>) o);
        }
        spec.layout();
        return spec;
    }

    @SuppressWarnings("unchecked")
    private void add(Map<String, Object> d) {
        Field f = new Field();
        f.name = (String) d.get("name");
        f.kind = (String) d.get("kind");
        f.side = (String) d.get("side");
        f.required = Boolean.TRUE.equals(d.get("required"));
        if (d.containsKey("value_type")) {
            f.valueType = (String) d.get("value_type");
        }
        if ("categorical".equals(f.kind) || "multi_categorical".equals(f.kind)) {
            List<Object> vocab = (List<Object>) d.get("vocabulary");
            boolean lookup = vocab != null || d.get("min_count") != null;
            f.hashBuckets = ((Number) d.getOrDefault(lookup ? "oov_buckets" : "num_buckets", 1L)).longValue();
            if (vocab != null) {
                for (int i = 0; i < vocab.size(); i++) {
                    f.vocabulary.put((String) vocab.get(i), i);
                }
            }
            if ("multi_categorical".equals(f.kind)) {
                f.maxLength = ((Number) d.get("max_length")).intValue();
                f.separator = (String) d.getOrDefault("separator", "|");
                f.shares = (String) d.get("shares");
            }
            f.size = (int) (1 + f.hashBuckets + f.vocabulary.size());
        } else if ("numeric".equals(f.kind)) {
            f.transform = (String) d.getOrDefault("transform", "standardize");
            f.column = (String) d.getOrDefault("source", f.name);
            f.mean = num(d.get("mean"));
            f.std = num(d.get("std"));
            f.min = num(d.get("min"));
            f.max = num(d.get("max"));
            f.dflt = num(d.get("default"));
            if (d.get("clip") != null) {
                f.clip = num(d.get("clip"));
            }
            List<Object> b = (List<Object>) d.get("boundaries");
            if (b != null) {
                f.boundaries = new double[b.size()];
                for (int i = 0; i < b.size(); i++) {
                    f.boundaries[i] = ((Number) b.get(i)).doubleValue();
                }
                f.size = b.size() + 2;
            }
        } else if ("cross".equals(f.kind)) {
            for (Object s : (List<Object>) d.get("fields")) {
                f.crossed.add((String) s);
            }
            f.hashBuckets = ((Number) d.get("num_buckets")).longValue();
            f.size = (int) (f.hashBuckets + 1);
        } else {
            throw new IllegalArgumentException("field '" + f.name + "': unknown kind " + f.kind);
        }
        if (f.column == null) {
            f.column = f.name;
        }
        fields.add(f);
        byName.put(f.name, f);
    }

    private static Double num(Object o) {
        return o == null ? null : ((Number) o).doubleValue();
    }

    private void layout() {
        int offset = 0;
        for (Field f : fields) {
            if (f.isIdField()) {
                idFields.add(f);
                f.offset = offset;
                offset += f.size;
            } else if ("numeric".equals(f.kind)) {
                denseFields.add(f);
            }
        }
        for (Field f : fields) {
            if ("multi_categorical".equals(f.kind)) {
                multiFields.add(f);
                if (f.shares != null) { // the shared field's ids: same vocabulary, buckets, offset
                    Field t = byName.get(f.shares);
                    if (t == null || !"categorical".equals(t.kind)) {
                        throw new IllegalArgumentException("field '" + f.name + "': shares " + f.shares
                                + ", which is not a categorical field");
                    }
                    f.valueType = t.valueType;
                    f.hashBuckets = t.hashBuckets;
                    f.vocabulary.clear();
                    f.vocabulary.putAll(t.vocabulary);
                    f.size = t.size;
                    f.offset = t.offset;
                    continue;
                }
                f.offset = offset;
                offset += f.size;
            }
        }
        for (int i = 0; i < fields.size(); i++) {
            Field f = fields.get(i);
            f.index = i;
            if ("cross".equals(f.kind)) {
                boolean item = false;
                for (String s : f.crossed) {
                    item |= "item".equals(byName.get(s).side);
                    byName.get(s).inCross = true;
                }
                f.side = item ? "item" : "context"; // §6.3
            }
        }
        totalRows = offset;
    }
}
