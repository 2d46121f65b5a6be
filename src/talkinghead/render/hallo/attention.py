"""Attention processors for Hallo's reference attention (diffusers `Attention.processor` objects).

The ReferenceNet runs once per clip on the reference image and the two motion frames. In every
transformer block its `ReferenceWriterProcessor` keeps the block's normed hidden states, the
input of `attn1`; the matching block of the denoising UNet reads them back through
`ReferenceAttnProcessor`, whose keys and values are `[frame tokens ; reference tokens]`.

All attention maths goes through `torch.nn.functional.scaled_dot_product_attention`, the kernel
the release used (diffusers' `AttnProcessor2_0`), so CUDA gets its flash / memory-efficient
kernels and fp16 without any extra package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0


class ReferenceWriterProcessor(AttnProcessor2_0):
    """Plain self-attention that also keeps its input, the block's normed hidden states.

    `bank` holds (N, L, C) after a forward pass; `ReferenceNet` collects and clears it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bank: torch.Tensor | None = None

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        self.bank = hidden_states
        return super().__call__(attn, hidden_states, *args, **kwargs)


def _split_heads(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """(N, L, heads·d) → (N, heads, L, d)."""
    n, length, inner = x.shape
    return x.view(n, length, attn.heads, inner // attn.heads).transpose(1, 2)


class ReferenceAttnProcessor:
    """Self-attention of the denoising UNet's spatial blocks with reference tokens in K/V.

    For the tokens x (L, C) of a frame and the ReferenceNet tokens r (L_r, C) of the same block
    chosen for that frame: Q = x, K/V = [x ; r], so every frame can copy appearance from the
    reference image. Frames whose `reference_index` is -1 attend to their own tokens only: the
    release overwrites the unconditional half of classifier-free guidance with plain
    self-attention, so its "no reference" condition is exactly this.
    """

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        *,
        reference: torch.Tensor | None = None,
        reference_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """hidden_states (N, L, C), N frames; reference (R, L_r, C); reference_index (N,) long,
        the reference row each frame attends to, -1 for none. Returns (N, L, C), no residual."""
        query = _split_heads(attn, attn.to_q(hidden_states))
        key = _split_heads(attn, attn.to_k(hidden_states))
        value = _split_heads(attn, attn.to_v(hidden_states))
        if reference is None:
            out = F.scaled_dot_product_attention(query, key, value)
        else:
            out = _attend_with_reference(attn, query, key, value, reference, reference_index)
        out = out.transpose(1, 2).reshape(hidden_states.shape[0], -1, attn.heads * query.shape[-1])
        return attn.to_out[1](attn.to_out[0](out.to(query.dtype)))


def _attend_with_reference(attn, query, key, value, reference, reference_index) -> torch.Tensor:
    """(N, heads, L, d) query/key/value of the frames → (N, heads, L, d) attention output."""
    use = reference_index >= 0
    out = torch.empty_like(query)
    if use.any():
        rows = reference_index[use]
        ref_key = _split_heads(attn, attn.to_k(reference))[rows]
        ref_value = _split_heads(attn, attn.to_v(reference))[rows]
        k = torch.cat([key[use], ref_key], dim=2)
        v = torch.cat([value[use], ref_value], dim=2)
        out[use] = F.scaled_dot_product_attention(query[use], k, v)
    if not use.all():
        plain = ~use
        out[plain] = F.scaled_dot_product_attention(query[plain], key[plain], value[plain])
    return out
