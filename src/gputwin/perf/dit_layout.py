"""Which weights of a diffusion transformer touch each token, and which act once per pass.

A DiT's nominal parameter count overstates its linear FLOPs per token in two ways:

* **dual-stream blocks** (FLUX.1, HunyuanVideo, Open-Sora 2.0, Mochi 1): each stream has its own
  qkv, output projection and MLP, and a token passes only its own stream's (an image token the
  image weights, a text token the text weights);
* **adaptive-norm (AdaLN) modulation**: each block projects the conditioning vector (timestep,
  guidance, pooled text) to its shift / scale / gate vectors, ``modulation_outputs x hidden``
  numbers from ``modulation_input`` inputs. That is a matrix-vector product once per pass and
  sample, not per token, and so are the timestep / guidance / pooled-text embedders.

Wan 2.2's reference code embeds the timestep per token (the scalar timestep is expanded to
the sequence before the time embedding and the modulation projection): with
``timestep_per_token`` those weights count per token instead.

So one pass over ``n`` tokens costs ``2 x token_params x n + 2 x forward_params`` linear FLOPs,
with (per block) ``token_params`` = the attention projections a token passes (q, k, v, output:
``4 hidden^2``; a cross-attention block adds its query and output projections, ``2 hidden^2``:
its key and value act on the text context only) plus its MLP (``mlp_matrices x hidden x
mlp_hidden``: 2 for GELU, 3 for a gated SwiGLU), plus the patch embedding in and the final
projection out (``2 x patch_channels x hidden``). The weight bytes in memory still use the full
parameter count. Counts come from each model's published config (``layout`` in
``perf/diffusion.yaml``, with its source).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SELF_ATTENTION_PROJECTIONS = 4  # q, k, v, output: hidden x hidden each
CROSS_ATTENTION_TOKEN_PROJECTIONS = 2  # query and output; key and value act on the text context


class DitLayout(BaseModel):
    """The weight shapes of a DiT that set its FLOPs per token and per pass."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mlp_hidden: int = Field(gt=0, description="Width of the MLP's inner layer a token passes")
    mlp_matrices: int = Field(ge=2, le=3, description="2: up and down (GELU); 3: gated (SwiGLU)")
    cross_attention: bool = Field(
        default=False, description="Each block also cross-attends to the text context (Wan)")
    patch_channels: int = Field(gt=0, description="Latent channels x patch volume (patch "
                                "embedding in, final projection out)")
    modulation_outputs: float = Field(ge=0, description="AdaLN shift/scale/gate outputs of all "
                                      "blocks and the final layer, in units of hidden")
    modulation_input: int = Field(gt=0, description="Width of the conditioning vector they "
                                  "are projected from")
    embedder_params: float = Field(ge=0, description="Timestep / guidance / pooled-text "
                                   "embedder weights (once per pass)")
    timestep_per_token: bool = Field(
        default=False, description="The timestep embedder and the modulation projection run on "
        "every token (Wan 2.2's per-token timestep), not once per pass")
    source: str = Field(min_length=8)


def token_params(layout: DitLayout, *, blocks: int, hidden: int) -> float:
    """Weights one token's activations pass through in one forward pass (a token of the
    stream the model is described by: the image / video stream of a dual-stream DiT)."""
    attention = SELF_ATTENTION_PROJECTIONS + (
        CROSS_ATTENTION_TOKEN_PROJECTIONS if layout.cross_attention else 0)
    per_block = attention * hidden * hidden + layout.mlp_matrices * hidden * layout.mlp_hidden
    per_token = float(blocks * per_block + 2 * layout.patch_channels * hidden)
    return per_token + (_conditioning_params(layout, hidden=hidden)
                        if layout.timestep_per_token else 0.0)


def forward_params(layout: DitLayout, *, hidden: int) -> float:
    """Weights that act once per forward pass and sample (AdaLN modulation, embedders);
    none where the timestep is embedded per token (they are in ``token_params``)."""
    return 0.0 if layout.timestep_per_token else _conditioning_params(layout, hidden=hidden)


def _conditioning_params(layout: DitLayout, *, hidden: int) -> float:
    return layout.modulation_outputs * hidden * layout.modulation_input + layout.embedder_params
