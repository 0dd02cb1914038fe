package masknet.edge;

/** A raw value cannot be encoded (ENCODING.md §8): names the field and the 0-based record. */
public final class EncodeException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    public final String field;
    public final int record;

    public EncodeException(String field, int record, String message) {
        super("field '" + field + "', record " + record + ": " + message);
        this.field = field;
        this.record = record;
    }
}
