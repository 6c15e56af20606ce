package dev.lora4j.tokenize;

/**
 * The special tokens of a tokenizer, as strings; a component is null when the tokenizer does not define it.
 * Resolved from tokenizer_config.json, then special_tokens_map.json, then what tokenizer.json itself shows
 * (the model's unk_token, the padding section, BERT/RoBERTa post-processors, conventional BERT names).
 */
public record SpecialTokens(String bos, String eos, String pad, String unk, String cls, String sep, String mask) {
    /** No special tokens. */
    public static final SpecialTokens NONE = new SpecialTokens(null, null, null, null, null, null, null);

    /** This record with every null component taken from {@code fallback}. */
    public SpecialTokens orElse(SpecialTokens fallback) {
        return new SpecialTokens(bos != null ? bos : fallback.bos, eos != null ? eos : fallback.eos,
                pad != null ? pad : fallback.pad, unk != null ? unk : fallback.unk, cls != null ? cls : fallback.cls,
                sep != null ? sep : fallback.sep, mask != null ? mask : fallback.mask);
    }
}
