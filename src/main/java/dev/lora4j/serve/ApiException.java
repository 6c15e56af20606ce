package dev.lora4j.serve;

/**
 * A request the server refuses, with the HTTP status and the OpenAI error type to answer with
 * ({@code {"error": {"message", "type", "code"}}}). Thrown anywhere below the HTTP layer, answered there.
 */
public final class ApiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String code;

    public ApiException(int status, String type, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
    }

    public static ApiException badRequest(String message) {
        return new ApiException(400, "invalid_request_error", null, message);
    }

    public static ApiException modelNotFound(String model) {
        return new ApiException(404, "not_found_error", "model_not_found", "The model '" + model + "' does not exist");
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    /** OpenAI's machine-readable code, or null. */
    public String code() {
        return code;
    }
}
