package dev.lora4j.io.safetensors;

import dev.lora4j.tensor.DType;

/**
 * The element types a safetensors header may name, with their sizes. Only F32, F16 and BF16 widen to a
 * {@link dev.lora4j.tensor.Tensor}; the others can still be read raw or, for integers and BOOL, as longs.
 */
public enum SafetensorsDType {
    F64(8), F32(4), F16(2), BF16(2),
    /** The two FP8 formats in common use; readable only as raw bytes. */
    F8_E4M3(1), F8_E5M2(1),
    I64(8), I32(4), I16(2), I8(1),
    U64(8), U32(4), U16(2), U8(1),
    BOOL(1);

    private final int bytes;

    SafetensorsDType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** The spelling in a header's "dtype" field. */
    public String jsonName() {
        return name();
    }

    /** The dtype a header names, or null for a name safetensors does not define (or lora4j does not know). */
    public static SafetensorsDType fromJsonName(String name) {
        for (SafetensorsDType t : values()) {
            if (t.jsonName().equals(name)) return t;
        }
        return null;
    }

    /** The lora4j storage type this widens from, or null where {@link SafetensorsFile#tensor} cannot read it. */
    public DType toDType() {
        return switch (this) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            default -> null;
        };
    }

    public static SafetensorsDType of(DType dtype) {
        return switch (dtype) {
            case F32 -> F32;
            case F16 -> F16;
            case BF16 -> BF16;
        };
    }

    /** Whether {@link SafetensorsFile#longs} can read it. U64 is left out: half its range has no long. */
    public boolean isIntegral() {
        return switch (this) {
            case I64, I32, I16, I8, U32, U16, U8, BOOL -> true;
            default -> false;
        };
    }
}
