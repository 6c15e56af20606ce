package dev.lora4j.serve;

import dev.lora4j.generate.SamplingOptions;
import dev.lora4j.model.CausalLanguageModel;
import dev.lora4j.model.PretrainedModels;
import dev.lora4j.model.gpt2.Gpt2LMHeadModel;
import dev.lora4j.model.llama.LlamaForCausalLM;
import dev.lora4j.nn.Module;
import dev.lora4j.peft.MultiAdapterModel;
import dev.lora4j.peft.ServedAdapter;
import dev.lora4j.tokenize.ChatTemplate;
import dev.lora4j.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Generation for a server whose base is a decoder: the base model wrapped for many adapters, its tokenizer, the
 * adapter registry and the scheduler that batches requests. Turns text (or a chat) into a queued
 * {@link GenerationRequest} after checking it fits the model.
 */
public final class DecoderService implements AutoCloseable {
    private final String name;
    private final CausalLanguageModel model;
    private final MultiAdapterModel adapters;
    private final Tokenizer tokenizer;
    private final Tokenizer templateTokenizer;
    private final AdapterRegistry<ServedAdapter> registry;
    private final BatchScheduler scheduler;
    private final int contextLength;
    private final int maxTokensCap;
    private final Object tokenizerLock = new Object();

    public DecoderService(String name, Path dir, int maxAdapters, int maxBatch, int maxTokensCap, BatchScheduler.Mode mode,
                          ServeMetrics metrics) throws IOException {
        this.name = name;
        this.model = PretrainedModels.causalLm(dir);
        ((Module) model).train(false);
        this.adapters = MultiAdapterModel.wrap((Module) model);
        this.tokenizer = Tokenizer.fromDirectory(dir);
        this.templateTokenizer = tokenizer.withOptions(Tokenizer.Options.builder().addSpecialTokens(false).build());
        this.registry = new AdapterRegistry<>(adapters::read, maxAdapters);
        this.contextLength = switch (model) {
            case LlamaForCausalLM l -> l.config().maxPositionEmbeddings();
            case Gpt2LMHeadModel g -> g.config().nPositions();
            default -> Integer.MAX_VALUE;
        };
        this.maxTokensCap = maxTokensCap;
        this.scheduler = new BatchScheduler(model, adapters, maxBatch, mode, metrics);
        metrics.gauge("adapter_cache_hits_total", registry::hits);
        metrics.gauge("adapter_cache_misses_total", registry::misses);
        metrics.gauge("adapter_cache_evictions_total", registry::evictions);
        metrics.gauge("adapters_in_memory", registry::inMemory);
        metrics.gauge("scheduler_waiting", scheduler::waiting);
    }

    public String name() {
        return name;
    }

    public AdapterRegistry<ServedAdapter> registry() {
        return registry;
    }

    public int contextLength() {
        return contextLength;
    }

    public int maxTokensCap() {
        return maxTokensCap;
    }

    /** The prompt's token ids (with the tokenizer's special tokens, as `generate` does). */
    public int[] encode(String prompt) {
        synchronized (tokenizerLock) {
            return tokenizer.encode(prompt).ids();
        }
    }

    /** A chat rendered with the model's template and the generation prompt, then tokenized without extra special tokens. */
    public int[] encodeChat(List<ChatTemplate.Message> messages) {
        ChatTemplate template = tokenizer.chatTemplate().orElseThrow(() -> ApiException.badRequest(
            "model '" + name + "' has no chat template (tokenizer_config.json chat_template); use /v1/completions"));
        String rendered;
        try {
            rendered = template.render(messages, true);
        } catch (RuntimeException e) {
            throw ApiException.badRequest("the chat template failed on these messages: " + e.getMessage());
        }
        synchronized (tokenizerLock) {
            return templateTokenizer.encode(rendered).ids();
        }
    }

    public String decode(int[] ids) {
        synchronized (tokenizerLock) {
            return tokenizer.decode(ids, true);
        }
    }

    /**
     * Queues a generation for {@code modelName} (the base or an adapter, which is taken from the registry now and
     * kept by the request to its end). Stops at the tokenizer's EOS as well as the options' stop ids.
     */
    public GenerationRequest submit(String modelName, int[] promptIds, SamplingOptions options) throws IOException {
        ServedAdapter adapter = modelName.equals(name) ? null : registry.acquire(modelName);
        if (options.maxNewTokens() > maxTokensCap) {
            throw ApiException.badRequest("max_tokens is " + options.maxNewTokens() + ", above this server's cap of " + maxTokensCap);
        }
        if ((long) promptIds.length + options.maxNewTokens() > contextLength) {
            throw ApiException.badRequest("This model's maximum context length is " + contextLength + " tokens. However, you requested "
                + (promptIds.length + options.maxNewTokens()) + " tokens (" + promptIds.length + " in the prompt, "
                + options.maxNewTokens() + " for the completion). Please reduce the prompt or max_tokens.");
        }
        Set<Integer> stops = new HashSet<>(options.stopTokenIds());
        if (tokenizer.eosTokenId() != null) stops.add(tokenizer.eosTokenId());
        GenerationRequest r = new GenerationRequest(promptIds, options.withStopTokenIds(stops), adapter);
        scheduler.submit(r);
        return r;
    }

    @Override
    public void close() {
        scheduler.close();
    }
}
