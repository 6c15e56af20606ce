package dev.lora4j.peft;

/**
 * The settings of one AdaLoRA adapter, field for field Peft's AdaLoraConfig (names as in adapter_config.json).
 * Training runs in three phases over {@code totalStep} steps: {@code tinit} steps at the full budget, then the
 * budget falls on a cubic curve from init_r to target_r per layer, re-allocated every {@code deltaT} steps,
 * and the last {@code tfinal} steps keep the final allocation.
 *
 * @param lora          the LoRA settings it shares (targets, alpha, dropout, bias, modules_to_save); its r is ignored
 * @param targetR       the average rank per layer at the end (Peft's target_r)
 * @param initR         every layer's rank at the start (init_r)
 * @param tinit         warm-up steps before any pruning
 * @param tfinal        final steps with the allocation fixed
 * @param deltaT        steps between two budget allocations
 * @param beta1         EMA factor of the sensitivity |p·∇p|
 * @param beta2         EMA factor of its uncertainty |I − Ī|
 * @param orthRegWeight weight of the orthogonality regulariser ||AAᵀ − I||_F + ||BᵀB − I||_F (averaged)
 * @param totalStep     optimizer steps of the whole run
 */
public record AdaLoraConfig(LoraConfig lora, int targetR, int initR, int tinit, int tfinal, int deltaT, double beta1, double beta2,
                            double orthRegWeight, long totalStep) {
    public AdaLoraConfig {
        if (initR <= 0 || targetR <= 0) throw new IllegalArgumentException("AdaLoRA init_r and target_r must be positive, got " + initR + ", " + targetR);
        if (targetR > initR) throw new IllegalArgumentException("AdaLoRA target_r " + targetR + " exceeds init_r " + initR + "; the budget only shrinks");
        if (!(beta1 > 0 && beta1 < 1) || !(beta2 > 0 && beta2 < 1)) throw new IllegalArgumentException("AdaLoRA beta1/beta2 must be in (0, 1), got " + beta1 + ", " + beta2);
        if (orthRegWeight < 0) throw new IllegalArgumentException("orth_reg_weight must be >= 0, got " + orthRegWeight);
        if (deltaT <= 0) throw new IllegalArgumentException("deltaT must be positive, got " + deltaT);
        if (tinit < 0 || tfinal < 0) throw new IllegalArgumentException("tinit and tfinal must be >= 0, got " + tinit + ", " + tfinal);
        if (totalStep <= 0) throw new IllegalArgumentException("AdaLoRA needs total_step > 0, got " + totalStep);
        // As Peft: without room between the phases nothing would ever be allocated.
        if (tinit >= totalStep - tfinal) {
            throw new IllegalArgumentException("AdaLoRA schedule leaves no budgeting phase: tinit " + tinit + " >= total_step " + totalStep
                + " - tfinal " + tfinal + "; lower --tinit/--tfinal or train longer");
        }
        lora = lora.withRank(initR);
    }

    /** Peft's defaults: init_r 12, target_r 8, tinit 0, tfinal 0, deltaT 1, betas 0.85, orth_reg_weight 0.5. */
    public static AdaLoraConfig of(LoraConfig lora, long totalStep) {
        return new AdaLoraConfig(lora, 8, 12, 0, 0, 1, 0.85, 0.85, 0.5, totalStep);
    }

    public AdaLoraConfig withTotalStep(long steps) {
        return new AdaLoraConfig(lora, targetR, initR, tinit, tfinal, deltaT, beta1, beta2, orthRegWeight, steps);
    }
}
