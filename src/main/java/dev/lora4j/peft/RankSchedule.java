package dev.lora4j.peft;

import dev.lora4j.autograd.Variable;
import java.util.ArrayList;
import java.util.List;

/**
 * Gradual rank increase: an adapter of rank r trains with only its first r0 directions, and more join at given
 * optimizer steps until all r do ({@code 2@0,4@100,8@200}).
 *
 * <p>How: the adapter is allocated at its full rank r (so its scaling alpha/r never changes and the saved
 * adapter is an ordinary rank-r one); a direction j not yet active has row j of A and column j of B both zero.
 * That is a stationary point of LoRA: the gradient of A's row j is scaled by B's column j and the gradient of
 * B's column j by A's row j, both exactly zero, so AdamW leaves the direction and its moments at zero without
 * any masking. At a growth step, direction j gets back the initial value LoRA gave it (A Kaiming, B zero for a
 * linear layer; A zero, B normal for an embedding): one factor is zero, so the output does not move, and the
 * gradient of the other factor is no longer zero, so it starts to learn. The optimizer state of the new entries
 * is their zero moments; their bias correction uses the tensor's step count, as torch's per-tensor Adam would
 * after copying the state into a larger tensor. The compute is that of rank r from the start: this schedules
 * what the adapter may express, it does not save work.
 */
public final class RankSchedule {

    /** From optimizer step {@code step} on (steps completed), {@code rank} directions are active. */
    public record Stage(int rank, long step) {}

    private final List<Stage> stages;

    public RankSchedule(List<Stage> stages) {
        if (stages.isEmpty()) throw new IllegalArgumentException("rank schedule: no stages");
        if (stages.get(0).step() != 0) throw new IllegalArgumentException("rank schedule: the first stage must start at step 0, got " + stages.get(0));
        for (int i = 0; i < stages.size(); i++) {
            Stage s = stages.get(i);
            if (s.rank() <= 0) throw new IllegalArgumentException("rank schedule: ranks must be positive, got " + s);
            if (i > 0 && (s.step() <= stages.get(i - 1).step() || s.rank() <= stages.get(i - 1).rank())) {
                throw new IllegalArgumentException("rank schedule: steps and ranks must both increase, got " + stages);
            }
        }
        this.stages = List.copyOf(stages);
    }

    /** Parses {@code RANK@STEP,...}, e.g. {@code 2@0,4@100,8@200}; a first entry without @ starts at step 0. */
    public static RankSchedule parse(String spec) {
        List<Stage> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) continue;
            int at = p.indexOf('@');
            try {
                if (at < 0 && out.isEmpty()) out.add(new Stage(Integer.parseInt(p), 0));
                else if (at < 0) throw new IllegalArgumentException("rank schedule: '" + p + "' has no @STEP (expected RANK@STEP, e.g. 2@0,4@100,8@200)");
                else out.add(new Stage(Integer.parseInt(p.substring(0, at).trim()), Long.parseLong(p.substring(at + 1).trim())));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("rank schedule: '" + p + "' is not RANK@STEP (e.g. 2@0,4@100,8@200)");
            }
        }
        return new RankSchedule(out);
    }

    public List<Stage> stages() {
        return stages;
    }

    /** The number of active directions after {@code step} completed optimizer steps. */
    public int rankAt(long step) {
        int r = stages.get(0).rank();
        for (Stage s : stages) if (step >= s.step()) r = s.rank();
        return r;
    }

    /**
     * Starts the schedule on adapter {@code name}, which must just have been initialised (its values are the
     * initial values new directions get): directions from the first stage's rank on are zeroed. Every layer's
     * rank (rank_pattern included) must be at least the schedule's last rank.
     */
    public Run start(LoraModel lora, String name) {
        LoraConfig c = lora.configs().get(name);
        if (c == null) throw new IllegalArgumentException("no adapter '" + name + "'");
        if (c.initLoraWeights() == LoraConfig.Init.RANDOM) {
            throw new IllegalArgumentException("rank schedule needs an init with one zero factor (init_lora_weights true or gaussian), got false");
        }
        List<Factor> factors = new ArrayList<>();
        int last = stages.getLast().rank();
        for (LoraLayer layer : lora.loraLayers()) {
            if (!layer.adapterNames().contains(name)) continue;
            if (layer instanceof AdaLoraLinear) throw new IllegalArgumentException("rank schedule is for LoRA adapters; AdaLoRA sets its own ranks");
            if (layer instanceof GloraLinear) throw new IllegalArgumentException("rank schedule is for LoRA adapters, not GLoRA");
            for (var e : layer.adapterParameters(name).entrySet()) {
                boolean isA = e.getKey().contains("_A");
                Variable v = e.getValue();
                int r = isA ? v.shape().dim(0) : v.shape().dim(1);
                if (r < last) throw new IllegalArgumentException("rank schedule grows to " + last + " but a layer has rank " + r);
                factors.add(new Factor(v, isA, r, v.data().clone()));
            }
        }
        Run run = new Run(factors);
        run.rank = stages.get(0).rank();
        // Directions beyond the first stage start switched off (zero in both factors).
        for (Factor f : factors) f.zero(stages.get(0).rank(), f.r);
        return run;
    }

    /** One LoRA factor: A is [r, in] (a direction is a row), B is [out, r] (a direction is a column). */
    private record Factor(Variable v, boolean isA, int r, float[] init) {
        void zero(int from, int to) {
            fill(from, to, null);
        }

        void restore(int from, int to) {
            fill(from, to, init);
        }

        private void fill(int from, int to, float[] src) {
            float[] d = v.data();
            if (isA) {
                int cols = d.length / r;
                for (int j = from; j < to; j++) {
                    for (int x = 0; x < cols; x++) d[j * cols + x] = src == null ? 0f : src[j * cols + x];
                }
            } else {
                int rows = d.length / r;
                for (int o = 0; o < rows; o++) {
                    for (int j = from; j < to; j++) d[o * r + j] = src == null ? 0f : src[o * r + j];
                }
            }
        }
    }

    /** A schedule running on one adapter: call {@link #atStep} with the completed step count. */
    public final class Run {
        private final List<Factor> factors;
        private int rank;

        private Run(List<Factor> factors) {
            this.factors = factors;
        }

        /** Directions active now. */
        public int rank() {
            return rank;
        }

        /** Takes the rank of {@code step} as given (a resumed run has its grown directions restored already). */
        public void start(long step) {
            rank = rankAt(step);
        }

        /** After {@code step} completed steps: switches new directions on at their initial values. */
        public void atStep(long step) {
            int target = rankAt(step);
            if (target <= rank) return;
            for (Factor f : factors) f.restore(rank, target);
            rank = target;
        }
    }
}
