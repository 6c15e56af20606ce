package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import dev.lora4j.nn.Module;
import dev.lora4j.tensor.Tensor;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * A frozen base layer wrapped with named LoRA adapters (Peft's LoraLayer): adapters are added, activated,
 * disabled, merged into the base weight and unmerged, each by name.
 */
public sealed interface LoraLayer permits LoraLinearBase, LoraEmbedding, LoraConv, LoraLstm, AdaLoraLinear, GloraLinear {

    /** The wrapped layer, whose weight merge modifies. */
    Module baseLayer();

    /** Adds (or re-initialises) the adapter {@code name} with the config's rank, scaling, dropout and init. */
    void addAdapter(String name, LoraConfig config, RandomGenerator rnd);

    void deleteAdapter(String name);

    /**
     * The layer's adapter bookkeeping (names, settings, active, merged, disabled), which the default methods
     * below answer from; every LoRA-family layer keeps one.
     */
    AdapterSet adapterSet();

    default Set<String> adapterNames() {
        return new java.util.LinkedHashSet<>(adapterSet().names());
    }

    /** Which adapters contribute to forward, in order. Unknown names are an error. */
    default void setActiveAdapters(List<String> names) {
        adapterSet().setActive(names);
    }

    default List<String> activeAdapters() {
        return adapterSet().active();
    }

    /** While disabled the layer computes its base alone (merged adapters are unmerged first, as Peft does). */
    default void setDisabled(boolean disabled) {
        if (disabled && !adapterSet().merged().isEmpty()) unmerge();
        adapterSet().setDisabled(disabled);
    }

    /** The update this adapter adds to the base weight, scaling·B·A, in the base weight's layout. */
    Tensor deltaWeight(String name);

    /** W += delta for each named adapter not yet merged; forward then skips their branch. */
    void merge(List<String> names);

    /** Subtracts every merged adapter's delta again (exact up to float rounding). */
    void unmerge();

    default List<String> mergedAdapters() {
        return adapterSet().merged();
    }

    /** The adapter's parameters by Peft's key relative to this layer, adapter name removed ("lora_A.weight"). */
    Map<String, Variable> adapterParameters(String name);

    default float scaling(String name) {
        return adapterSet().require(name).scaling();
    }
}
