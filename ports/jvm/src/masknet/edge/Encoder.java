package masknet.edge;

import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The masknet-edge feature encoder on the JVM, written from ENCODING.md (version 1); comments cite
 * its sections. Records are maps from column name to raw value (String, Long, BigInteger, Double,
 * Boolean, byte[], List, or null); the output maps input names to {@code int[][]} / {@code float[][]}.
 */
public final class Encoder {
    private static final HashFunction FARM = Hashing.farmHashFingerprint64();
    private static final long CROSS_KEY = 0xDECAFCAFFEL; // §6.2
    private static final long K_MUL = 0xC6A4A7935BD1E995L;
    private static final Pattern INT_TEXT = Pattern.compile("[+-]?[0-9]+");
    private static final Pattern DECIMAL = Pattern.compile("[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?");
    private static final Pattern INFINITE = Pattern.compile("[+-]?(inf|infinity)", Pattern.CASE_INSENSITIVE);
    private static final Set<String> MISSING_NUMERIC_TEXTS = Set.of( // §7.1
            "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
            "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null");

    private final Spec spec;

    public Encoder(Spec spec) {
        this.spec = spec;
        for (Spec.Field f : spec.fields) {
            if (f.isBucketized()) { // §6.1: a bin enters a cross as the text of its index
                f.binFingerprints = new long[f.boundaries.length + 1];
                for (int b = 0; b < f.binFingerprints.length; b++) {
                    f.binFingerprints[b] = FARM.hashBytes(Integer.toString(b).getBytes(StandardCharsets.UTF_8)).asLong();
                }
            }
        }
    }

    // ------------------------------------------------------------------ §3 canonical text

    /** The canonical text of one categorical value (§3), or null when it is missing (§3.1). */
    static String canonicalText(Spec.Field f, Object v, int record) {
        String text = plainText(f, v, record);
        if (text == null || text.isEmpty()) {
            return null;
        }
        switch (f.valueType) {
            case "text":
                return text;
            case "integer":
                return integerText(f, v, text, record);
            case "boolean":
                return booleanText(f, text, record);
            default:
                throw new EncodeException(f.name, record, "unknown value_type " + f.valueType);
        }
    }

    /** §3.2: the text of a value before its type is applied. */
    private static String plainText(Spec.Field f, Object v, int record) {
        if (v == null) {
            return null;
        }
        if (v instanceof String) {
            return (String) v;
        }
        if (v instanceof Boolean) {
            return ((Boolean) v) ? "true" : "false";
        }
        if (v instanceof Long || v instanceof BigInteger || v instanceof Integer) {
            return v.toString();
        }
        if (v instanceof Double) {
            double d = (Double) v;
            if (Double.isNaN(d)) {
                return null;
            }
            if (Double.isInfinite(d)) {
                return d > 0 ? "inf" : "-inf";
            }
            if (d == Math.rint(d)) {
                return new BigDecimal(d).toBigInteger().toString();
            }
            return pythonRepr(d);
        }
        if (v instanceof byte[]) {
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap((byte[]) v))
                        .toString();
            } catch (CharacterCodingException e) {
                throw new EncodeException(f.name, record, "bytes are not valid UTF-8");
            }
        }
        throw new EncodeException(f.name, record, "expected a single categorical value, got "
                + v.getClass().getSimpleName());
    }

    /** §3.2: the shortest digits that read back as {@code d}, laid out as Python's repr(float). */
    static String pythonRepr(double d) {
        String digits = null;
        int exp = 0;
        for (int p = 1; p <= 17; p++) {
            String s = String.format(java.util.Locale.ROOT, "%." + (p - 1) + "e", Math.abs(d));
            if (Double.parseDouble(s) == Math.abs(d)) {
                int e = s.indexOf('e');
                digits = s.substring(0, e).replace(".", "");
                exp = Integer.parseInt(s.substring(e + 1));
                break;
            }
        }
        digits = digits.replaceAll("0+$", "");
        if (digits.isEmpty()) {
            digits = "0";
        }
        String sign = d < 0 ? "-" : "";
        if (exp >= -4 && exp < 16) {
            if (exp < 0) {
                return sign + "0." + "0".repeat(-exp - 1) + digits;
            }
            if (digits.length() <= exp + 1) {
                return sign + digits + "0".repeat(exp + 1 - digits.length()) + ".0";
            }
            return sign + digits.substring(0, exp + 1) + "." + digits.substring(exp + 1);
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String e = String.format(java.util.Locale.ROOT, "%02d", Math.abs(exp));
        return sign + mantissa + "e" + (exp < 0 ? "-" : "+") + e;
    }

    /** §3.3. */
    private static String integerText(Spec.Field f, Object v, String text, int record) {
        if (v instanceof Boolean) {
            throw new EncodeException(f.name, record, "expected an integer, got the boolean " + v);
        }
        if (INT_TEXT.matcher(text).matches() && text.length() <= 1000) {
            return new BigInteger(text.startsWith("+") ? text.substring(1) : text).toString();
        }
        if (text.length() <= 64 && DECIMAL.matcher(text).matches()) {
            double d = Double.parseDouble(text);
            if (!Double.isInfinite(d) && d == Math.rint(d)) {
                return new BigDecimal(d).toBigInteger().toString();
            }
        }
        throw new EncodeException(f.name, record, "expected an integer, got '" + text + "'");
    }

    /** §3.4. */
    private static String booleanText(Spec.Field f, String text, int record) {
        String t = text.toLowerCase(java.util.Locale.ROOT);
        if (t.equals("true") || t.equals("1")) {
            return "true";
        }
        if (t.equals("false") || t.equals("0")) {
            return "false";
        }
        throw new EncodeException(f.name, record, "expected a boolean (true/false, 1/0), got '" + text + "'");
    }

    /** §3.5 and §4.1: FarmHash Fingerprint64 of the UTF-8 bytes; a lone surrogate is an error. */
    static long fingerprint(Spec.Field f, String text, int record) {
        Long cached = f.fingerprints.get(text);
        if (cached != null) {
            return cached;
        }
        for (int i = 0; i < text.length(); i++) { // a lone surrogate has no UTF-8 form
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new EncodeException(f.name, record, "text is not valid UTF-8 (lone surrogate)");
            }
        }
        long fp = FARM.hashBytes(text.getBytes(StandardCharsets.UTF_8)).asLong();
        f.fingerprints.put(text, fp);
        return fp;
    }

    // ------------------------------------------------------------------ §4, §5 ids

    /** §4.1: vocabulary id, else hash bucket; both shifted by the field's offset. */
    private int idOf(Spec.Field f, String text, int record) {
        Map<String, Integer> cache = f.ids;
        Integer id = cache.get(text);
        if (id == null) {
            Integer v = f.vocabulary.get(text);
            if (v != null) {
                id = f.offset + 1 + (int) f.hashBuckets + v;
            } else {
                id = f.offset + 1 + (int) Long.remainderUnsigned(fingerprint(f, text, record), f.hashBuckets);
            }
            cache.put(text, id);
        }
        return id;
    }

    /** §5.1 and §5.2: the kept item texts of a multi-valued value, or null when it is missing. */
    static List<String> multiTexts(Spec.Field f, Object v, int record) {
        if (v instanceof byte[]) {
            v = plainText(f, v, record);
        }
        List<Object> items = new ArrayList<>();
        if (v == null || (v instanceof Double && Double.isNaN((Double) v))) {
            return null;
        } else if (v instanceof String) {
            String s = (String) v;
            if (s.isEmpty()) {
                return null;
            }
            int start = 0;
            while (true) { // every occurrence of the separator, empty items kept (then skipped)
                int at = s.indexOf(f.separator, start);
                if (at < 0) {
                    items.add(s.substring(start));
                    break;
                }
                items.add(s.substring(start, at));
                start = at + f.separator.length();
            }
        } else if (v instanceof List) {
            items.addAll((List<?>) v);
        } else {
            items.add(v);
        }
        List<String> texts = new ArrayList<>();
        for (Object item : items) {
            if (item instanceof List || item instanceof Map) {
                throw new EncodeException(f.name, record, "expected a single categorical value, got a list");
            }
            String t = canonicalText(f, item, record);
            if (t != null) {
                texts.add(t);
                if (texts.size() == f.maxLength) {
                    break;
                }
            }
        }
        return texts;
    }

    // ------------------------------------------------------------------ §7 numbers

    /** §7.1: the value of a numeric field as a double; NaN when missing. */
    static double readNumber(Spec.Field f, Object v, int record) {
        double x;
        if (v == null) {
            x = Double.NaN;
        } else if (v instanceof Boolean) {
            x = ((Boolean) v) ? 1.0 : 0.0;
        } else if (v instanceof Number) {
            x = ((Number) v).doubleValue();
        } else if (v instanceof String || v instanceof byte[]) {
            String raw = v instanceof String ? (String) v : plainText(f, v, record);
            String t = strip(raw);
            if (MISSING_NUMERIC_TEXTS.contains(t)) {
                x = Double.NaN;
            } else if (t.length() <= 64 && (DECIMAL.matcher(t).matches() || INFINITE.matcher(t).matches())) {
                x = INFINITE.matcher(t).matches() ? (t.startsWith("-") ? Double.NEGATIVE_INFINITY
                        : Double.POSITIVE_INFINITY) : Double.parseDouble(t);
            } else {
                throw new EncodeException(f.column, record, "cannot parse '" + raw + "' as a number");
            }
        } else {
            throw new EncodeException(f.column, record, "expected a number, got " + v.getClass().getSimpleName());
        }
        if (Double.isInfinite(x)) {
            throw new EncodeException(f.column, record, "value is not finite; numeric values must be finite");
        }
        if (Double.isNaN(x) && f.required) {
            throw new EncodeException(f.column, record, "required field is missing");
        }
        return x;
    }

    private static boolean blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
    }

    /** §7.1: without surrounding spaces, tabs, CR and LF. */
    private static String strip(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && blank(s.charAt(a))) {
            a++;
        }
        while (b > a && blank(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    /** §7.2 and §7.3: the transformed, clipped float32 value. */
    static float transform(Spec.Field f, double x) {
        boolean missing = Double.isNaN(x);
        double y;
        switch (f.transform) {
            case "standardize":
                y = missing ? (f.dflt == null ? 0.0 : (f.dflt - f.mean) / f.std) : (x - f.mean) / f.std;
                break;
            case "log1p_standardize":
                y = missing ? (f.dflt == null ? 0.0 : (StrictMath.log1p(Math.max(f.dflt, 0.0)) - f.mean) / f.std)
                        : (StrictMath.log1p(Math.max(x, 0.0)) - f.mean) / f.std;
                break;
            case "minmax": {
                double span = (f.max - f.min) == 0.0 ? 1.0 : (f.max - f.min);
                double at = missing ? (f.dflt == null ? f.mean : f.dflt) : x;
                y = Math.min(Math.max((at - f.min) / span, 0.0), 1.0);
                break;
            }
            case "none":
                y = missing ? (f.dflt != null ? f.dflt : (f.mean != null ? f.mean : 0.0)) : x;
                break;
            default:
                throw new IllegalArgumentException("unknown transform " + f.transform);
        }
        y = Math.min(Math.max(y, -f.clip), f.clip);
        return (float) y;
    }

    /** §7.5: the bin of a bucketized value (boundaries <= x), or -1 when missing without default. */
    static int bin(Spec.Field f, double x) {
        if (Double.isNaN(x)) {
            if (f.dflt == null) {
                return -1;
            }
            x = f.dflt;
        }
        int b = 0;
        while (b < f.boundaries.length && f.boundaries[b] <= x) {
            b++;
        }
        return b;
    }

    // ------------------------------------------------------------------ §6 crosses

    private static long shiftMix(long v) {
        return v ^ (v >>> 47);
    }

    /** §6.2: TensorFlow's FingerprintCat64. */
    static long fingerprintCat64(long h, long f) {
        long a = (h ^ K_MUL) ^ (shiftMix(f * K_MUL) * K_MUL);
        a = a * K_MUL;
        a = shiftMix(a) * K_MUL;
        return shiftMix(a);
    }

    // ------------------------------------------------------------------ §1.4 records -> arrays

    /** Encode records into the model's inputs (§1.4), or throw {@link EncodeException} (§8). */
    public Map<String, Object> encode(List<Map<String, Object>> records) {
        int n = records.size();
        Map<String, Object> out = new LinkedHashMap<>();
        int[][] cat = new int[n][spec.idFields.size()];
        float[][] dense = new float[n][spec.denseFields.size()];
        Map<String, int[][]> multiIds = new LinkedHashMap<>();
        Map<String, float[][]> multiMask = new LinkedHashMap<>();
        for (Spec.Field f : spec.multiFields) {
            int[][] ids = new int[n][f.maxLength];
            for (int[] row : ids) {
                Arrays.fill(row, f.offset);
            }
            multiIds.put(f.name, ids);
            multiMask.put(f.name, new float[n][f.maxLength]);
        }
        long[] fps = new long[spec.fields.size()];
        boolean[] present = new boolean[spec.fields.size()];
        for (int r = 0; r < n; r++) {
            Map<String, Object> rec = records.get(r);
            Arrays.fill(present, false);
            for (int j = 0; j < spec.idFields.size(); j++) {
                Spec.Field f = spec.idFields.get(j);
                if ("categorical".equals(f.kind)) {
                    String t = canonicalText(f, rec.get(f.column), r);
                    if (t == null) {
                        if (f.required) {
                            throw new EncodeException(f.name, r, "required field is missing");
                        }
                        cat[r][j] = f.offset;
                    } else {
                        cat[r][j] = idOf(f, t, r);
                        if (f.inCross) {
                            fps[f.index] = fingerprint(f, t, r);
                            present[f.index] = true;
                        }
                    }
                } else if (f.isBucketized()) {
                    int b = bin(f, readNumber(f, rec.get(f.column), r));
                    cat[r][j] = f.offset + 1 + b;
                    if (b < 0) {
                        cat[r][j] = f.offset;
                    } else {
                        fps[f.index] = f.binFingerprints[b];
                        present[f.index] = true;
                    }
                }
            }
            for (int j = 0; j < spec.idFields.size(); j++) { // §6, after every crossed field is known
                Spec.Field f = spec.idFields.get(j);
                if (!"cross".equals(f.kind)) {
                    continue;
                }
                long h = CROSS_KEY;
                boolean missing = false;
                for (String s : f.crossed) {
                    int i = spec.byName.get(s).index;
                    if (!present[i]) {
                        missing = true;
                        break;
                    }
                    h = fingerprintCat64(h, fps[i]);
                }
                cat[r][j] = missing ? f.offset : f.offset + 1 + (int) Long.remainderUnsigned(h, f.hashBuckets);
            }
            for (int j = 0; j < spec.denseFields.size(); j++) {
                Spec.Field f = spec.denseFields.get(j);
                dense[r][j] = transform(f, readNumber(f, rec.get(f.column), r));
            }
            for (Spec.Field f : spec.multiFields) {
                List<String> texts = multiTexts(f, rec.get(f.column), r);
                if (texts == null) {
                    if (f.required) {
                        throw new EncodeException(f.name, r, "required field is missing");
                    }
                    continue;
                }
                for (int k = 0; k < texts.size(); k++) {
                    multiIds.get(f.name)[r][k] = idOf(f, texts.get(k), r);
                    multiMask.get(f.name)[r][k] = 1.0f;
                }
            }
        }
        if (!spec.idFields.isEmpty()) {
            out.put("cat_ids", cat);
        }
        if (!spec.denseFields.isEmpty()) {
            out.put("num_values", dense);
        }
        for (Spec.Field f : spec.multiFields) {
            out.put(f.name + "_ids", multiIds.get(f.name));
            out.put(f.name + "_mask", multiMask.get(f.name));
        }
        return out;
    }
}
