"""4 x 4 stride-2 convolutions (``Conv4 s2 p1`` and its transpose) with faster CPU paths for small maps.

Both layers are the ``nn`` modules with the same parameters and function; only how the product is
computed changes where the library's CPU kernels are slow: small maps with many channels, as in
the AU cycle GAN's deepest layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

GEMM_MAX_PIXELS = 64
"""Callers give ``UpConv`` its GEMM path for inputs of at most this many pixels (8 x 8)."""
UNFOLD_MAX_PIXELS = 16
"""``DownConv`` uses its unfold + matrix-product path for outputs of at most this many pixels (4 x 4)."""


def _rows(x: Tensor) -> Tensor:
    """``[B, C, H, W]`` -> ``[B*H*W, C]`` (a view of channels-last memory)."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def _compute_dtype(w: Tensor) -> torch.dtype:
    """The autocast dtype where autocast is on, else the weight's."""
    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else w.dtype


def _weight_matrix(w: Tensor, dtype: torch.dtype) -> Tensor:
    """``[C_in, C_out, 4, 4]`` -> ``[C_in, 16*C_out]`` in (kh, kw, C_out) column order and ``dtype``:
    one strided copy, which a cast to the autocast dtype costs anyway."""
    c_in, c_out = w.shape[:2]
    return torch.empty(c_in, 4, 4, c_out, dtype=dtype, device=w.device).copy_(w.permute(0, 2, 3, 1)).view(c_in, -1)


def _as_weight(gw: Tensor, dtype: torch.dtype) -> Tensor:
    """:func:`_weight_matrix`'s adjoint: ``[C_in, 16*C_out]`` -> a contiguous ``[C_in, C_out, 4, 4]``
    in the parameter's dtype, which autograd accumulates without another cast or copy."""
    c_in, c_out = gw.shape[0], gw.shape[1] // 16
    out = torch.empty(c_in, c_out, 4, 4, dtype=dtype, device=gw.device)
    return out.copy_(gw.view(c_in, 4, 4, c_out).permute(0, 3, 1, 2))


def _col2im(cols: Tensor, b: int, h: int, wd: int, output_padding: int) -> Tensor:
    """Per-pixel products ``[B*H*W, 16*C_out]`` -> the transposed convolution ``[B, C_out, Ho, Wo]``
    (channels-last): 16 strided adds into an output padded by one pixel on each side."""
    c_out = cols.shape[1] // 16
    cols = cols.view(b, h, wd, 4, 4, c_out)
    out = cols.new_zeros(b, 2 * h + 2, 2 * wd + 2, c_out)
    for ky in range(4):
        for kx in range(4):
            out[:, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2].add_(cols[:, :, :, ky, kx])
    ho, wo = 2 * h + output_padding, 2 * wd + output_padding
    return out[:, 1 : 1 + ho, 1 : 1 + wo].permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def _im2col(grad: Tensor, h: int, wd: int) -> Tensor:
    """The adjoint of :func:`_col2im`: output gradient ``[B, C_out, Ho, Wo]`` -> ``[B*H*W, 16*C_out]``."""
    b, c_out, ho, wo = grad.shape
    padded = grad.new_zeros(b, 2 * h + 2, 2 * wd + 2, c_out)
    padded[:, 1 : 1 + ho, 1 : 1 + wo] = grad.permute(0, 2, 3, 1)
    cols = grad.new_empty(b, h, wd, 4, 4, c_out)
    for ky in range(4):
        for kx in range(4):
            cols[:, :, :, ky, kx] = padded[:, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2]
    return cols.view(b * h * wd, 16 * c_out)


class _ConvTranspose4s2(torch.autograd.Function):
    """ConvTranspose2d(kernel 4, stride 2, padding 1) as GEMMs on channels-last rows + col2im, for
    ``n`` inputs that may share channel chunks.

    On CPU the library's transposed convolution is slow for small maps with many channels (the AU
    cycle GAN generator's first two decoder layers: 3 x 3 x 1041 and 7 x 7 x 1553 inputs); the
    product ``[B*H*W, C_in] @ [C_in, 16 * C_out]`` followed by 16 strided adds computes the same
    function several times faster there.

    Branch k's input is the channel concatenation of its chunks; a chunk marked shared is the same
    tensor in every branch, so its product with its rows of the weight is computed once, and in the
    backward its input and weight gradients come from the branches' summed gradients: one product
    each instead of ``n`` (the AU cycle GAN decodes one encoding under two conditions, whose first
    decoder layers share the deepest encoder map and the skip map). ``chunks`` lists, in channel
    order, one tensor per shared chunk and ``n`` per other chunk; one input is ``n = 1``,
    ``shared = (False,)``. Not twice differentiable (the generator never needs it).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, w: Tensor, output_padding: int, n: int, shared: tuple[bool, ...], *chunks: Tensor):
        dt = _compute_dtype(w)
        wm = _weight_matrix(w, dt)  # cast once, not once per product
        groups, rows, start, it = [], [], 0, iter(chunks)
        for s in shared:
            xs = [next(it)] if s else [next(it) for _ in range(n)]
            groups.append([_rows(x).to(dt) for x in xs])
            rows.append((start, start + xs[0].shape[1]))
            start += xs[0].shape[1]
        common = None  # the sum of the shared chunks' products
        for s, xs, (a, z) in zip(shared, groups, rows, strict=True):
            if s:
                common = torch.mm(xs[0], wm[a:z]) if common is None else common.addmm_(xs[0], wm[a:z])
        cols = [common] * n
        for s, xs, (a, z) in zip(shared, groups, rows, strict=True):
            if not s:  # a branch's first own product starts a new sum; the shared one stays as it is
                cols = [torch.mm(x, wm[a:z]) if c is None else c.addmm(x, wm[a:z]) if c is common
                        else c.addmm_(x, wm[a:z]) for c, x in zip(cols, xs)]
        b, _, h, wd = chunks[0].shape
        ctx.save_for_backward(wm, *(x for xs in groups for x in xs))
        ctx.geometry, ctx.layout, ctx.w_dtype = (b, h, wd), (n, shared, rows), w.dtype
        ctx.set_materialize_grads(False)  # an unused branch's gradient stays None, not zeros
        return tuple(_col2im(c, b, h, wd, output_padding) for c in cols)

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, *grads: Tensor | None):
        wm, *flat = ctx.saved_tensors
        b, h, wd = ctx.geometry
        n, shared, rows = ctx.layout
        gcols = [None if g is None else _im2col(g.to(wm.dtype), h, wd) for g in grads]
        total = None  # the shared chunks' output gradient: the sum over branches
        for gc in (gcols if any(shared) else []):
            if gc is not None:
                total = gc.clone() if total is None else total.add_(gc)
        gw = wm.new_zeros(wm.shape)
        out: list[Tensor | None] = []
        need, it = iter(ctx.needs_input_grad[4:]), iter(flat)
        for s, (a, z) in zip(shared, rows, strict=True):
            for x, k in ([(next(it), None)] if s else [(next(it), k) for k in range(n)]):
                g = total if s else gcols[k]
                if g is None:
                    next(need)
                    out.append(None)
                    continue
                gw[a:z].addmm_(x.t(), g)
                gx = torch.mm(g, wm[a:z].t()).view(b, h, wd, z - a).permute(0, 3, 1, 2) if next(need) else None
                out.append(gx)
        return (_as_weight(gw, ctx.w_dtype) if ctx.needs_input_grad[0] else None), None, None, None, *out


class UpConv(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding)`` (same parameters and function).

    With ``gemm`` (chosen by the generator for inputs of at most ``GEMM_MAX_PIXELS`` pixels) it runs
    through ``_ConvTranspose4s2`` on CPU, which reorders the weight into the product's
    ``[C_in, 4, 4, C_out]`` order in the same pass that casts it to the autocast dtype. The
    parameter itself stays contiguous, so the fused optimizer updates it without copies.
    Other devices use the library's kernel.
    """

    def __init__(self, c_in: int, c_out: int, output_padding: int = 0, bias: bool = False, gemm: bool = False) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, output_padding=output_padding, bias=bias)
        self.gemm = gemm

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, 2H + output_padding, 2W + output_padding]."""
        if output_size is not None:
            return super().forward(x, output_size)
        return self.apply_with(x, self.weight, self.bias)

    def apply_with(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """This layer's function with other parameters of the same shapes (folded BatchNorm)."""
        if not self.gemm or x.device.type != "cpu":
            return F.conv_transpose2d(x, weight, bias, 2, 1, self.output_padding)
        (y,) = _ConvTranspose4s2.apply(weight, self.output_padding[0], 1, (False,), x)
        return y if bias is None else y + bias[:, None, None]

    def forward_shared(self, branches: list[list[Tensor]]) -> list[Tensor]:
        """This layer on several inputs given as channel chunks: ``[self(cat(br, 1)) for br in branches]``.

        Args:
            branches: per input, its chunks ``[B, C_j, H, W]`` in channel order (the same sizes in
                every branch). A chunk that is the same tensor object in every branch is shared:
                on the GEMM path its product (and, in the backward, its gradients) is computed once.

        Returns:
            one output ``[B, C_out, 2H + op, 2W + op]`` per branch.
        """
        first = branches[0]
        shared = tuple(all(br[j] is first[j] for br in branches) for j in range(len(first)))
        if len(branches) < 2 or not any(shared) or not self.gemm or first[0].device.type != "cpu":
            return [self(br[0] if len(br) == 1 else torch.cat(br, 1)) for br in branches]
        chunks = [t for j, s in enumerate(shared) for t in ([first[j]] if s else [br[j] for br in branches])]
        ys = _ConvTranspose4s2.apply(self.weight, self.output_padding[0], len(branches), shared, *chunks)
        return list(ys) if self.bias is None else [y + self.bias[:, None, None] for y in ys]


class DownConv(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)`` (same parameters and function).

    When the output has at most ``UNFOLD_MAX_PIXELS`` pixels (the 7 -> 3 layer at 112 px), the
    CPU convolution kernels are several times slower than ``unfold`` + one matrix product, so
    that path is used there; it is built from differentiable ops, so the critic's gradient
    penalty can differentiate through it twice.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H // 2, W // 2]."""
        return self.apply_with(x, self.weight, None)

    def apply_with(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """This layer's function with another weight (and an optional bias: folded BatchNorm)."""
        ho, wo = x.shape[-2] // 2, x.shape[-1] // 2
        if x.device.type != "cpu" or ho * wo > UNFOLD_MAX_PIXELS:
            return F.conv2d(x, weight, bias, 2, 1)
        b = x.shape[0]
        cols = F.unfold(x, 4, padding=1, stride=2).transpose(1, 2).reshape(b * ho * wo, -1)  # [B*L, C_in*16]
        # one 2-D product: a batched matmul would expand the weight per sample in the backward
        w = weight.view(self.out_channels, -1).t()
        y = torch.mm(cols, w) if bias is None else torch.addmm(bias, cols, w)
        return y.view(b, ho, wo, self.out_channels).permute(0, 3, 1, 2)


__all__ = ["GEMM_MAX_PIXELS", "UNFOLD_MAX_PIXELS", "DownConv", "UpConv"]
