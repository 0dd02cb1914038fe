package masknet.edge;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Behaviour fields from a user's recent events (ENCODING.md §10): the event log's bounds, the
 * features it gives a request, and training replay (§10.4), written from the document alone.
 */
public final class Behaviour {
    /** §10.0: what {@code seconds_since} reports when no event is kept, and its default cap. */
    static final double DEFAULT_CAP_SECONDS = 30 * 24 * 3600.0;

    /** One event kind of the behaviour section: how many events and how old they may be. */
    static final class Kind {
        long keepLast;
        Double keepSeconds;
    }

    /** One feature of the behaviour section. */
    static final class Feature {
        String name;
        String type;
        String event;
        String of;
        Integer k;
        Double windowSeconds;
        String resetBy;
        Double capSeconds;
        Double halfLifeSeconds;
        String per;
        /** §10.3: for {@code last_values} and {@code last_ages}, the columns a listed event has. */
        List<Integer> present;

        /** §10.0: the side a feature belongs to ({@code seconds_since}: item with {@code of}). */
        boolean itemSide() {
            switch (type) {
                case "match_count":
                case "decayed_match":
                case "unclicked_exposures":
                    return true;
                case "seconds_since":
                    return of != null;
                default:
                    return false;
            }
        }

        double cap() {
            return capSeconds == null ? DEFAULT_CAP_SECONDS : capSeconds;
        }
    }

    /** §10.3: {@code floor(log2(1 + age))}, exactly: the binary exponent of {@code 1 + max(age, 0)}. */
    static int ageBucket(double age) {
        return Math.getExponent(1.0 + Math.min(Math.max(age, 0.0), Double.MAX_VALUE));
    }

    /** One kept event: arrival order, time, canonical texts of the recorded columns. */
    static final class Event {
        final long seq;
        final double ts;
        final String[] values;

        Event(long seq, double ts, String[] values) {
            this.seq = seq;
            this.ts = ts;
            this.values = values;
        }
    }

    final Map<String, Kind> kinds = new LinkedHashMap<>();
    final List<Feature> features = new ArrayList<>();
    /** §10.1: the item columns events record, the {@code of} of every feature in first-use order. */
    final List<String> columns = new ArrayList<>();
    final Map<String, Spec.Field> columnFields = new HashMap<>();
    final String label;

    /** The behaviour section of a spec's JSON object (the whole spec, as parsed by {@link Json}). */
    @SuppressWarnings("unchecked")
    Behaviour(Map<String, Object> spec) {
        Map<String, Object> section = (Map<String, Object>) spec.get("behaviour");
        label = (String) spec.get("label");
        Map<String, Object> events = (Map<String, Object>) section.get("events");
        for (Map.Entry<String, Object> e : events.entrySet()) {
            Map<String, Object> d = (Map<String, Object>) e.getValue();
            Kind kind = new Kind();
            kind.keepLast = (Long) d.get("keep_last");
            kind.keepSeconds = number(d.get("keep_seconds"));
            kinds.put(e.getKey(), kind);
        }
        for (Object o : (List<Object>) section.get("features")) {
            Map<String, Object> d = (Map<String, Object>) o;
            Feature f = new Feature();
            f.name = (String) d.get("name");
            f.type = (String) d.get("type");
            f.event = (String) d.get("event");
            f.of = (String) d.get("of");
            f.k = d.get("k") == null ? null : ((Long) d.get("k")).intValue();
            f.windowSeconds = number(d.get("window_seconds"));
            f.resetBy = (String) d.get("reset_by");
            f.capSeconds = number(d.get("cap_seconds"));
            f.halfLifeSeconds = number(d.get("half_life_seconds"));
            f.per = (String) d.get("per");
            features.add(f);
            if (f.of != null && !columns.contains(f.of)) {
                columns.add(f.of);
            }
        }
        Map<String, String> along = new HashMap<>();
        for (Object o : (List<Object>) spec.get("fields")) {
            Map<String, Object> d = (Map<String, Object>) o;
            if (d.get("along") != null) {
                along.put((String) d.get("name"), (String) d.get("along"));
            }
            if (columns.contains((String) d.get("name"))) {
                Spec.Field f = new Spec.Field();
                f.name = (String) d.get("name");
                f.valueType = (String) d.getOrDefault("value_type", "text");
                columnFields.put(f.name, f);
            }
        }
        historyColumns(along);
    }

    /**
     * §10.3: the recorded columns an event must have to be listed by each history feature: its
     * history's {@code of} and that of every {@code last_values} field along the history.
     */
    private void historyColumns(Map<String, String> along) {
        Map<String, Feature> byName = new HashMap<>();
        for (Feature f : features) {
            byName.put(f.name, f);
        }
        Map<String, String> group = new HashMap<>();
        for (Feature f : features) {
            String a = along.get(f.name);
            group.put(f.name, a != null && byName.containsKey(a) ? a : f.name);
        }
        Map<String, List<Integer>> needed = new HashMap<>();
        for (Feature f : features) {
            String g = group.get(f.name);
            boolean lists = f.type.equals("last_values") || (f.type.equals("last_ages") && g.equals(f.name));
            List<Integer> cols = needed.computeIfAbsent(g, x -> new ArrayList<>());
            if (lists && !cols.contains(columns.indexOf(f.of))) {
                cols.add(columns.indexOf(f.of));
            }
        }
        for (Feature f : features) {
            f.present = needed.get(group.get(f.name));
        }
    }

    private static Double number(Object v) {
        return v == null ? null : ((Number) v).doubleValue();
    }

    /** A user's kept events and the features they give (§10.1 to §10.3). */
    final class State {
        private final Map<String, ArrayDeque<Event>> events = new HashMap<>();
        private long seq;

        State() {
            for (String k : kinds.keySet()) {
                events.put(k, new ArrayDeque<>());
            }
        }

        /** §10.1: keep one event; what is kept is decided by arrival order alone. */
        void add(String kind, Map<String, Object> item, double ts, int record) {
            String[] values = new String[columns.size()];
            for (int j = 0; j < values.length; j++) {
                values[j] = Encoder.canonicalText(columnFields.get(columns.get(j)), item.get(columns.get(j)), record);
            }
            ArrayDeque<Event> queue = events.get(kind);
            queue.addLast(new Event(++seq, ts, values));
            while (queue.size() > kinds.get(kind).keepLast) {
                queue.removeFirst();
            }
        }

        /** §10.2: kept events of a kind as of {@code now}, within its keep_seconds when set. */
        private List<Event> visible(String kind, double now) {
            Double keep = kinds.get(kind).keepSeconds;
            List<Event> out = new ArrayList<>();
            for (Event e : events.get(kind)) {
                if (keep == null || e.ts > now - keep) {
                    out.add(e);
                }
            }
            return out;
        }

        private List<Event> selected(Feature f, double now) {
            List<Event> out = new ArrayList<>();
            for (Event e : visible(f.event, now)) {
                if (f.windowSeconds == null || e.ts > now - f.windowSeconds) {
                    out.add(e);
                }
            }
            return f.k == null ? out : out.subList(Math.max(0, out.size() - f.k), out.size());
        }

        /** §10.3: the context-side columns (a list of texts, a number, or null for missing). */
        Map<String, Object> contextValues(double now) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Feature f : features) {
                if (f.itemSide()) {
                    continue;
                }
                if (f.type.equals("rate")) {
                    out.put(f.name, rate(f, now));
                    continue;
                }
                List<Event> chosen = selected(f, now);
                if (f.type.equals("last_values") || f.type.equals("last_ages")) {
                    int j = columns.indexOf(f.of);
                    List<String> texts = new ArrayList<>();
                    for (int i = chosen.size() - 1; i >= 0; i--) { // most recent first
                        Event e = chosen.get(i);
                        boolean listed = true;
                        for (int c : f.present) {
                            listed &= e.values[c] != null;
                        }
                        if (listed) {
                            texts.add(f.type.equals("last_values") ? e.values[j]
                                    : Integer.toString(ageBucket(now - e.ts)));
                        }
                    }
                    out.put(f.name, texts);
                } else if (f.type.equals("count")) {
                    out.put(f.name, (double) chosen.size());
                } else { // seconds_since the latest event of the kind
                    out.put(f.name, chosen.isEmpty() ? f.cap()
                            : Math.min(Math.max(now - chosen.get(chosen.size() - 1).ts, 0.0), f.cap()));
                }
            }
            return out;
        }

        private Double rate(Feature f, double now) {
            List<Event> shown = visible(f.per, now);
            shown = shown.subList(Math.max(0, shown.size() - f.k), shown.size());
            if (shown.isEmpty()) {
                return null;
            }
            long first = shown.get(0).seq;
            long after = visible(f.event, now).stream().filter(e -> e.seq > first).count();
            return (double) after / shown.size();
        }

        /** §10.3: the item-side columns of the candidates. */
        Map<String, double[]> itemValues(List<Map<String, Object>> candidates, double now) {
            Map<String, double[]> out = new LinkedHashMap<>();
            for (Feature f : features) {
                if (!f.itemSide()) {
                    continue;
                }
                int j = columns.indexOf(f.of);
                Map<String, Double> byValue = new HashMap<>();
                double fallback = 0.0;
                switch (f.type) {
                    case "match_count":
                        for (Event e : selected(f, now)) {
                            byValue.merge(key(e.values[j]), 1.0, Double::sum);
                        }
                        break;
                    case "decayed_match": {
                        double rate = Math.log(2.0) / f.halfLifeSeconds;
                        for (Event e : visible(f.event, now)) {
                            byValue.merge(key(e.values[j]), Math.exp(-rate * Math.max(now - e.ts, 0.0)), Double::sum);
                        }
                        break;
                    }
                    case "seconds_since":
                        fallback = f.cap();
                        for (Event e : visible(f.event, now)) { // the latest wins
                            byValue.put(key(e.values[j]), Math.min(Math.max(now - e.ts, 0.0), f.cap()));
                        }
                        break;
                    default: { // unclicked_exposures: events since the latest reset on the same value
                        Map<String, Long> reset = new HashMap<>();
                        for (Event e : visible(f.resetBy, now)) {
                            reset.put(key(e.values[j]), e.seq);
                        }
                        for (Event e : visible(f.event, now)) {
                            if (e.seq > reset.getOrDefault(key(e.values[j]), -1L)) {
                                byValue.merge(key(e.values[j]), 1.0, Double::sum);
                            }
                        }
                    }
                }
                byValue.remove(MISSING); // a missing value matches nothing
                double[] col = new double[candidates.size()];
                for (int i = 0; i < col.length; i++) {
                    String text = Encoder.canonicalText(columnFields.get(f.of), candidates.get(i).get(f.of), i);
                    col[i] = byValue.getOrDefault(key(text), fallback);
                }
                out.put(f.name, col);
            }
            return out;
        }
    }

    /** Null (a missing value) as a map key of its own, distinct from every text. */
    private static final String MISSING = "\u0000missing";

    private static String key(String text) {
        return text == null ? MISSING : text;
    }

    /**
     * §10.4: each row's behaviour columns as the device computes them just before the impression;
     * then the impression is recorded ({@code expose}, and {@code click} when the label is 1).
     */
    List<Map<String, Object>> replay(List<Map<String, Object>> rows, String user, String time) {
        Map<String, State> states = new HashMap<>();
        Map<String, Double> last = new HashMap<>();
        Spec.Field userField = new Spec.Field();
        userField.name = user;
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            Map<String, Object> row = rows.get(i);
            String who = Encoder.canonicalText(userField, row.get(user), i);
            if (who == null) {
                throw new EncodeException(user, i, "the user is missing");
            }
            double ts = ((Number) row.get(time)).doubleValue();
            double y = ((Number) row.get(label)).doubleValue();
            if (y != 0.0 && y != 1.0) {
                throw new EncodeException(label, i, "the click label must be 0 or 1");
            }
            if (last.containsKey(who) && ts < last.get(who)) {
                throw new EncodeException(time, i, "time goes back for user " + who);
            }
            State state = states.computeIfAbsent(who, u -> new State());
            Map<String, Object> values = new LinkedHashMap<>(state.contextValues(ts));
            for (Map.Entry<String, double[]> e : state.itemValues(Collections.singletonList(row), ts).entrySet()) {
                values.put(e.getKey(), e.getValue()[0]);
            }
            out.add(values);
            if (kinds.containsKey("expose")) {
                state.add("expose", row, ts, i);
            }
            if (kinds.containsKey("click") && y == 1.0) {
                state.add("click", row, ts, i);
            }
            last.put(who, ts);
        }
        return out;
    }
}
