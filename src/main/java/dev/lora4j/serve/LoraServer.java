package dev.lora4j.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.lora4j.generate.GenerationResult;
import dev.lora4j.generate.SamplingOptions;
import dev.lora4j.generate.StreamingDecoder;
import dev.lora4j.io.hf.DownloadListener;
import dev.lora4j.io.hf.HfModelDirectory;
import dev.lora4j.io.hf.HubClient;
import dev.lora4j.io.onnx.BuiltinBertModel;
import dev.lora4j.model.bert.BertCheckpoint;
import dev.lora4j.tokenize.ChatTemplate;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The HTTP side of `lora4j serve`: OpenAI-compatible endpoints over one base model and its adapters.
 *
 * <ul>
 *   <li>GET /health, GET /metrics (Prometheus text), GET /v1/models (the base and every adapter with its parent)</li>
 *   <li>POST /v1/completions, /v1/chat/completions (decoder base; {@code "stream": true} answers with server-sent
 *       events ending in {@code data: [DONE]})</li>
 *   <li>POST /v1/embeddings, /v1/classify (encoder base)</li>
 *   <li>POST /v1/load_lora_adapter {lora_name, lora_path}, /v1/unload_lora_adapter {lora_name}</li>
 * </ul>
 * Every refusal is a 4xx with {@code {"error": {"message", "type", "code"}}} and the server keeps serving.
 *
 * <p>Built on the JDK's own {@code com.sun.net.httpserver} with a virtual thread per exchange: it speaks HTTP/1.1
 * with keep-alive and chunked responses, which is all server-sent events need, and adds no dependency; the work
 * that matters (batching, the model) is in {@link BatchScheduler}, not in the HTTP layer.
 */
public final class LoraServer implements AutoCloseable {
    private static final int MAX_BODY = 8 << 20;
    private static final Set<String> UNSUPPORTED_FIELDS = Set.of("stop", "logprobs", "echo", "best_of", "suffix", "tools", "functions");

    private final ObjectMapper json = new ObjectMapper();
    private final ServerConfig config;
    private final ServeMetrics metrics = new ServeMetrics();
    private final DecoderService decoder;
    private final EncoderService encoder;
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final byte[] apiKey;

    private LoraServer(ServerConfig config) throws IOException {
        this.config = config;
        this.apiKey = config.apiKey() == null ? null : config.apiKey().getBytes(StandardCharsets.UTF_8);
        String ref = config.model();
        Path dir = null;
        boolean encoderModel;
        if (!Files.isDirectory(Path.of(ref)) && isBuiltin(ref)) {
            encoderModel = true;
        } else {
            dir = HubClient.resolve(ref, DownloadListener.NONE);
            encoderModel = HfModelDirectory.open(dir).modelType().equals("bert");
        }
        if (encoderModel) {
            this.encoder = new EncoderService(ref, dir == null ? BertCheckpoint.load(ref) : BertCheckpoint.fromDirectory(dir),
                config.maxAdapters(), config.maxSeqLen(), metrics);
            this.decoder = null;
        } else {
            this.decoder = new DecoderService(ref, dir, config.maxAdapters(), config.maxBatch(), config.maxTokensCap(), config.mode(), metrics);
            this.encoder = null;
        }
        try {
            for (var e : config.adapters().entrySet()) addAdapter(e.getKey(), e.getValue());
            this.http = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 128);
        } catch (IOException | RuntimeException e) {
            if (decoder != null) decoder.close();
            throw e;
        }
        http.setExecutor(executor);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Loads the model and the start-up adapters, binds, and starts answering. */
    public static LoraServer start(ServerConfig config) throws IOException {
        return new LoraServer(config);
    }

    private static boolean isBuiltin(String ref) {
        try {
            return BuiltinBertModel.byName(ref).isAvailable();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** The bound port (the ephemeral one when the config asked for 0). */
    public int port() {
        return http.getAddress().getPort();
    }

    public String baseUrl() {
        return "http://" + config.host() + ":" + port();
    }

    public ServeMetrics metrics() {
        return metrics;
    }

    public String modelName() {
        return config.model();
    }

    @Override
    public void close() {
        http.stop(0);
        if (decoder != null) decoder.close();
        executor.shutdownNow();
    }

    // ---- routing --------------------------------------------------------------------------------------

    private void handle(HttpExchange ex) {
        String path = ex.getRequestURI().getPath();
        int status;
        try {
            status = route(ex, path);
        } catch (ApiException e) {
            status = sendError(ex, e);
        } catch (JsonProcessingException e) {
            status = sendError(ex, ApiException.badRequest("the request body is not valid JSON: " + e.getOriginalMessage()));
        } catch (IllegalArgumentException e) {
            status = sendError(ex, ApiException.badRequest(e.getMessage()));
        } catch (IOException e) {
            // The client went away (or the body could not be read): nothing sensible to answer.
            status = 499;
        } catch (RuntimeException e) {
            status = sendError(ex, new ApiException(500, "server_error", null, "internal error: " + e));
        } finally {
            ex.close();
        }
        metrics.request(endpoint(path), status);
    }

    private static String endpoint(String path) {
        return switch (path) {
            case "/health", "/metrics", "/v1/models", "/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/classify",
                 "/v1/load_lora_adapter", "/v1/unload_lora_adapter" -> path;
            default -> "other";
        };
    }

    private int route(HttpExchange ex, String path) throws IOException {
        if (path.startsWith("/v1/")) authorize(ex);
        return switch (path) {
            case "/health" -> get(ex, () -> sendJson(ex, 200, json.createObjectNode().put("status", "ok")));
            case "/metrics" -> get(ex, () -> send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.render().getBytes(StandardCharsets.UTF_8)));
            case "/v1/models" -> get(ex, () -> sendJson(ex, 200, models()));
            case "/v1/completions" -> generate(ex, body(ex), false);
            case "/v1/chat/completions" -> generate(ex, body(ex), true);
            case "/v1/embeddings" -> embeddings(ex, body(ex));
            case "/v1/classify" -> classify(ex, body(ex));
            case "/v1/load_lora_adapter" -> loadAdapter(ex, body(ex));
            case "/v1/unload_lora_adapter" -> unloadAdapter(ex, body(ex));
            default -> throw new ApiException(404, "not_found_error", null, "no endpoint " + ex.getRequestMethod() + " " + path);
        };
    }

    private interface Responder {
        int respond() throws IOException;
    }

    private static int get(HttpExchange ex, Responder r) throws IOException {
        if (!ex.getRequestMethod().equals("GET")) throw new ApiException(405, "invalid_request_error", null, "use GET for " + ex.getRequestURI().getPath());
        return r.respond();
    }

    private void authorize(HttpExchange ex) {
        if (apiKey == null) return;
        String h = ex.getRequestHeaders().getFirst("Authorization");
        byte[] given = h != null && h.startsWith("Bearer ") ? h.substring(7).trim().getBytes(StandardCharsets.UTF_8) : new byte[0];
        if (!MessageDigest.isEqual(given, apiKey)) {
            throw new ApiException(401, "authentication_error", "invalid_api_key", h == null
                ? "missing API key: send the header 'Authorization: Bearer <key>'" : "invalid API key");
        }
    }

    /** The POST body as a JSON object. */
    private ObjectNode body(HttpExchange ex) throws IOException {
        if (!ex.getRequestMethod().equals("POST")) {
            throw new ApiException(405, "invalid_request_error", null, "use POST for " + ex.getRequestURI().getPath());
        }
        byte[] bytes;
        try (InputStream in = ex.getRequestBody()) {
            bytes = in.readNBytes(MAX_BODY + 1);
        }
        if (bytes.length > MAX_BODY) throw new ApiException(413, "invalid_request_error", null, "the request body is over " + MAX_BODY + " bytes");
        JsonNode n = json.readTree(bytes);
        if (n == null || !n.isObject()) throw ApiException.badRequest("the request body must be a JSON object");
        return (ObjectNode) n;
    }

    // ---- models and adapters --------------------------------------------------------------------------

    private ObjectNode models() {
        ObjectNode out = json.createObjectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        String base = config.model();
        data.addObject().put("id", base).put("object", "model").put("created", 0).put("owned_by", "lora4j").put("root", base).putNull("parent");
        Map<String, Path> adapters = decoder != null ? decoder.registry().known() : encoder.registry().known();
        adapters.forEach((name, path) -> data.addObject().put("id", name).put("object", "model").put("created", 0)
            .put("owned_by", "lora4j").put("root", path.toString()).put("parent", base));
        return out;
    }

    private void addAdapter(String name, Path path) throws IOException {
        if (name.equals(config.model())) throw ApiException.badRequest("'" + name + "' is the base model's name; pick another lora_name");
        if (decoder != null) decoder.registry().add(name, path);
        else encoder.registry().add(name, path);
    }

    private int loadAdapter(HttpExchange ex, ObjectNode req) throws IOException {
        String name = requiredText(req, "lora_name"), path = requiredText(req, "lora_path");
        try {
            addAdapter(name, Path.of(path));
        } catch (java.nio.file.NoSuchFileException e) {
            throw ApiException.badRequest("cannot load adapter '" + name + "': no such file " + e.getMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("cannot load adapter '" + name + "' from " + path + ": " + e.getMessage());
        }
        return sendJson(ex, 200, json.createObjectNode().put("object", "model").put("id", name).put("root", path)
            .put("parent", config.model()).put("message", "Success: LoRA adapter '" + name + "' added successfully."));
    }

    private int unloadAdapter(HttpExchange ex, ObjectNode req) throws IOException {
        String name = requiredText(req, "lora_name");
        boolean removed = decoder != null ? decoder.registry().remove(name) : encoder.registry().remove(name);
        if (!removed) throw new ApiException(404, "not_found_error", "model_not_found", "no adapter named '" + name + "' is loaded");
        return sendJson(ex, 200, json.createObjectNode().put("id", name).put("message", "Success: LoRA adapter '" + name + "' removed successfully."));
    }

    // ---- generation -----------------------------------------------------------------------------------

    private int generate(HttpExchange ex, ObjectNode req, boolean chat) throws IOException {
        if (decoder == null) throw ApiException.badRequest("model '" + config.model() + "' is an encoder: use /v1/embeddings or /v1/classify");
        String model = requiredText(req, "model");
        for (String f : UNSUPPORTED_FIELDS) {
            JsonNode v = req.get(f);
            if (v != null && !v.isNull() && !(v.isBoolean() && !v.asBoolean())) throw ApiException.badRequest("'" + f + "' is not supported by this server");
        }
        if (req.has("n") && req.get("n").asInt(1) != 1) throw ApiException.badRequest("only n = 1 is supported");
        int[] prompt = chat ? decoder.encodeChat(messages(req)) : decoder.encode(promptText(req));
        SamplingOptions options = sampling(req, chat);
        GenerationRequest r = decoder.submit(model, prompt, options);
        metrics.promptTokens(prompt.length);
        boolean stream = req.path("stream").asBoolean(false);
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        StreamingDecoder text = new StreamingDecoder(decoder::decode, prompt);
        try {
            if (stream) return streamEvents(ex, r, text, id, created, model, chat);
            List<Integer> ids = new ArrayList<>();
            while (true) {
                GenerationRequest.Event e = next(r);
                switch (e) {
                    case GenerationRequest.Token t -> { ids.add(t.id()); text.push(t.id()); }
                    case GenerationRequest.Failed f -> throw new ApiException(500, "server_error", null, f.message());
                    case GenerationRequest.Done d -> {
                        text.flush();
                        ObjectNode out = json.createObjectNode().put("id", id).put("object", chat ? "chat.completion" : "text_completion")
                            .put("created", created).put("model", model);
                        ObjectNode choice = out.putArray("choices").addObject().put("index", 0);
                        if (chat) choice.putObject("message").put("role", "assistant").put("content", text.text());
                        else choice.put("text", text.text()).putNull("logprobs");
                        choice.put("finish_reason", finishReason(d.reason()));
                        out.putObject("usage").put("prompt_tokens", d.promptTokens()).put("completion_tokens", d.generatedTokens())
                            .put("total_tokens", d.promptTokens() + d.generatedTokens());
                        return sendJson(ex, 200, out);
                    }
                }
            }
        } finally {
            r.cancel(); // a no-op once done; stops the sequence when the client has gone
        }
    }

    private int streamEvents(HttpExchange ex, GenerationRequest r, StreamingDecoder text, String id, long created, String model,
                             boolean chat) throws IOException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        if (chat) {
            ObjectNode first = piece(id, created, model, true, "", null);
            ((ObjectNode) first.get("choices").get(0).get("delta")).put("role", "assistant");
            sse(out, first);
        }
        while (true) {
            GenerationRequest.Event e = next(r);
            switch (e) {
                case GenerationRequest.Token t -> {
                    String piece = text.push(t.id());
                    if (!piece.isEmpty()) sse(out, piece(id, created, model, chat, piece, null));
                }
                case GenerationRequest.Failed f -> {
                    ObjectNode err = json.createObjectNode();
                    err.putObject("error").put("message", f.message()).put("type", "server_error");
                    sse(out, err);
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    return 200;
                }
                case GenerationRequest.Done d -> {
                    String rest = text.flush();
                    ObjectNode last = piece(id, created, model, chat, rest, finishReason(d.reason()));
                    last.putObject("usage").put("prompt_tokens", d.promptTokens()).put("completion_tokens", d.generatedTokens())
                        .put("total_tokens", d.promptTokens() + d.generatedTokens());
                    sse(out, last);
                    out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    return 200;
                }
            }
        }
    }

    /** One streamed piece of text (and, on the last, the finish reason), as the whole event object. */
    private ObjectNode piece(String id, long created, String model, boolean chat, String text, String finish) {
        ObjectNode c = json.createObjectNode().put("id", id).put("object", chat ? "chat.completion.chunk" : "text_completion")
            .put("created", created).put("model", model);
        ObjectNode choice = c.putArray("choices").addObject().put("index", 0);
        if (chat) {
            ObjectNode delta = choice.putObject("delta");
            if (!text.isEmpty()) delta.put("content", text);
        } else {
            choice.put("text", text).putNull("logprobs");
        }
        choice.put("finish_reason", finish);
        return c;
    }

    private void sse(OutputStream out, ObjectNode event) throws IOException {
        out.write(("data: " + json.writeValueAsString(event) + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static GenerationRequest.Event next(GenerationRequest r) throws IOException {
        try {
            GenerationRequest.Event e = r.next(600);
            if (e == null) throw new ApiException(504, "server_error", null, "generation timed out");
            return e;
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted");
        }
    }

    private static String finishReason(GenerationResult.StopReason reason) {
        return reason == GenerationResult.StopReason.STOP_TOKEN ? "stop" : "length";
    }

    private String promptText(ObjectNode req) {
        JsonNode p = req.get("prompt");
        if (p == null || p.isNull()) throw ApiException.badRequest("'prompt' is required");
        if (p.isTextual()) return p.asText();
        if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) return p.get(0).asText();
        throw ApiException.badRequest("'prompt' must be a string (or a list of one string)");
    }

    private static List<ChatTemplate.Message> messages(ObjectNode req) {
        JsonNode m = req.get("messages");
        if (m == null || !m.isArray() || m.isEmpty()) throw ApiException.badRequest("'messages' must be a non-empty list");
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (JsonNode n : m) {
            if (!n.isObject() || !n.path("role").isTextual()) throw ApiException.badRequest("each message needs a 'role' and a 'content' string");
            JsonNode c = n.get("content");
            String content;
            if (c != null && c.isTextual()) content = c.asText();
            else if (c != null && c.isArray()) {
                // OpenAI's list-of-parts form: concatenate the text parts.
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : c) {
                    if (!part.path("type").asText().equals("text")) throw ApiException.badRequest("only text message parts are supported");
                    sb.append(part.path("text").asText());
                }
                content = sb.toString();
            } else throw ApiException.badRequest("each message needs a 'role' and a 'content' string");
            out.add(new ChatTemplate.Message(n.get("role").asText(), content));
        }
        return out;
    }

    private static SamplingOptions sampling(ObjectNode req, boolean chat) {
        JsonNode maxNode = req.has("max_completion_tokens") ? req.get("max_completion_tokens") : req.get("max_tokens");
        int maxTokens = maxNode == null || maxNode.isNull() ? (chat ? 128 : 16) : intValue(maxNode, "max_tokens");
        if (maxTokens < 0) throw ApiException.badRequest("max_tokens must be >= 0, got " + maxTokens);
        double temperature = number(req, "temperature", 1.0);
        double topP = number(req, "top_p", 1.0);
        int topK = (int) number(req, "top_k", 0);
        double penalty = number(req, "repetition_penalty", 1.0);
        long seed = req.hasNonNull("seed") ? req.get("seed").asLong() : System.nanoTime();
        try {
            return new SamplingOptions(maxTokens, temperature, Math.max(0, topK), topP, seed, penalty, Set.of());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage());
        }
    }

    private static int intValue(JsonNode n, String field) {
        if (!n.isIntegralNumber() || !n.canConvertToInt()) throw ApiException.badRequest("'" + field + "' must be an integer, got " + n);
        return n.asInt();
    }

    private static double number(ObjectNode req, String field, double dflt) {
        JsonNode n = req.get(field);
        if (n == null || n.isNull()) return dflt;
        if (!n.isNumber()) throw ApiException.badRequest("'" + field + "' must be a number, got " + n);
        return n.asDouble();
    }

    private static String requiredText(ObjectNode req, String field) {
        JsonNode n = req.get(field);
        if (n == null || !n.isTextual() || n.asText().isEmpty()) throw ApiException.badRequest("'" + field + "' is required (a non-empty string)");
        return n.asText();
    }

    private static List<String> texts(ObjectNode req) {
        JsonNode in = req.get("input");
        if (in != null && in.isTextual()) return List.of(in.asText());
        if (in == null || !in.isArray() || in.isEmpty()) throw ApiException.badRequest("'input' must be a string or a non-empty list of strings");
        List<String> out = new ArrayList<>();
        for (JsonNode n : in) {
            if (!n.isTextual()) throw ApiException.badRequest("'input' must be a string or a non-empty list of strings");
            out.add(n.asText());
        }
        return out;
    }

    // ---- encoders -------------------------------------------------------------------------------------

    private int embeddings(HttpExchange ex, ObjectNode req) throws IOException {
        if (encoder == null) throw ApiException.badRequest("model '" + config.model() + "' is a decoder; /v1/embeddings needs an encoder base (BERT family)");
        String model = requiredText(req, "model");
        List<String> in = texts(req);
        List<float[]> vectors = encoder.embed(model, in);
        ObjectNode out = json.createObjectNode().put("object", "list").put("model", model);
        ArrayNode data = out.putArray("data");
        for (int i = 0; i < vectors.size(); i++) {
            ArrayNode v = data.addObject().put("object", "embedding").put("index", i).putArray("embedding");
            for (float f : vectors.get(i)) v.add(f);
        }
        out.putObject("usage").put("prompt_tokens", 0).put("total_tokens", 0);
        return sendJson(ex, 200, out);
    }

    private int classify(HttpExchange ex, ObjectNode req) throws IOException {
        if (encoder == null) throw ApiException.badRequest("model '" + config.model() + "' is a decoder; /v1/classify needs an encoder base with classification adapters");
        String model = requiredText(req, "model");
        List<String> in = texts(req);
        EncoderService.ClassifyResult r = encoder.classify(model, in);
        ObjectNode out = json.createObjectNode().put("object", "list").put("model", model);
        ArrayNode data = out.putArray("data");
        for (int i = 0; i < in.size(); i++) {
            float[] p = r.probabilities()[i];
            int best = 0;
            for (int c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
            ObjectNode o = data.addObject().put("index", i).put("label", r.labels().get(best)).put("num_classes", p.length);
            ArrayNode probs = o.putArray("probs");
            for (float f : p) probs.add(f);
            ArrayNode labels = o.putArray("labels");
            r.labels().forEach(labels::add);
        }
        return sendJson(ex, 200, out);
    }

    // ---- responses ------------------------------------------------------------------------------------

    private int sendJson(HttpExchange ex, int status, JsonNode body) throws IOException {
        return send(ex, status, "application/json", json.writeValueAsBytes(body));
    }

    private static int send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        return status;
    }

    private int sendError(HttpExchange ex, ApiException e) {
        ObjectNode body = json.createObjectNode();
        ObjectNode err = body.putObject("error").put("message", e.getMessage()).put("type", e.type());
        if (e.code() != null) err.put("code", e.code());
        else err.putNull("code");
        if (e.status() == 401) ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
        try {
            return sendJson(ex, e.status(), body);
        } catch (IOException io) {
            return e.status(); // headers already sent (a stream that failed midway) or the client left
        }
    }
}
