#!/usr/bin/env python3
"""bench/gguf_convert.py — run llama.cpp's own convert_hf_to_gguf.py on a deepc model folder.

    python3 bench/gguf_convert.py LLAMA_CPP_SRC MODEL_DIR OUT.gguf [f16|bf16|q8_0|f32]

llama.cpp recognizes a tokenizer's pre-tokenizer by hashing what it does to a fixed text; a
tokenizer trained by deepc (DeepSeek-V3's pre-tokenizer rules, its own merges) hashes to a value
llama.cpp does not list, so the converter would refuse it. This wrapper only tells the converter
which pre-tokenizer it is ("deepseek-v3") and otherwise runs llama.cpp's conversion unchanged
(MLA split into k_b/v_b, experts merged, etc.). Used by bench/infer.sh for the llama.cpp peer.
"""
import sys
from pathlib import Path


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, model, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    outtype = sys.argv[4] if len(sys.argv) > 4 else "f16"
    script = src / "convert_hf_to_gguf.py"
    if not script.is_file():
        sys.exit(f"gguf_convert: {script} not found (need llama.cpp's source tree)")
    sys.path.insert(0, str(src / "gguf-py"))
    sys.path.insert(0, str(src))
    import conversion  # llama.cpp's converter package, from the same source tree
    # TextModel.get_vocab_base_pre(tokenizer) -> name: answer for deepc's tokenizers.
    text_model = getattr(conversion, "TextModel", None)
    if text_model is None:
        from conversion import base as cb  # older layouts
        text_model = cb.TextModel
    text_model.get_vocab_base_pre = lambda self, tokenizer: "deepseek-v3"
    sys.argv = [str(script), model, "--outfile", out, "--outtype", outtype]
    import runpy
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
