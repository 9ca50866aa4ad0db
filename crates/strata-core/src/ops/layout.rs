//! Ops that move elements without arithmetic: permuting axes, zero-padding
//! and cropping images, nearest-neighbour upsampling. Each output element is
//! one input element (or a zero), so forward and backward share an index map.

use crate::error::{fmt_shape, Error, Result};
use crate::tensor::Tensor;

/// Marks an output element that is a padding zero.
const ZERO: usize = crate::backend::ZERO_INDEX;

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

impl Tensor {
    /// Reorders the axes: output axis `i` is input axis `perm[i]` (NumPy's `transpose`).
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank() || perm.iter().any(|&p| p >= self.rank() || std::mem::replace(&mut seen[p], true)) {
            return Err(Error::shape("permute", format!("{perm:?} is not a permutation of the {} axes of {}", self.rank(), fmt_shape(self.shape()))));
        }
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape()[p]).collect();
        let (in_strides, out_strides) = (strides(self.shape()), strides(&shape));
        let map = (0..self.numel())
            .map(|o| perm.iter().enumerate().map(|(axis, &p)| (o / out_strides[axis]) % shape[axis] * in_strides[p]).sum())
            .collect();
        Ok(self.backend().index_map("permute", self, shape, map))
    }

    /// Adds zero rows and columns around NHWC images (`(top, bottom)`,
    /// `(left, right)`); negative amounts crop instead.
    pub fn pad2d(&self, (top, bottom): (isize, isize), (left, right): (isize, isize)) -> Result<Tensor> {
        let &[n, h, w, c] = self.shape() else {
            return Err(Error::shape("pad2d", format!("expects NHWC images (rank 4), got {}", fmt_shape(self.shape()))));
        };
        let (oh, ow) = (h as isize + top + bottom, w as isize + left + right);
        if oh <= 0 || ow <= 0 {
            return Err(Error::shape("pad2d", format!("padding ({top}, {bottom}), ({left}, {right}) leaves nothing of {}", fmt_shape(self.shape()))));
        }
        let (oh, ow) = (oh as usize, ow as usize);
        let mut map = Vec::with_capacity(n * oh * ow * c);
        for b in 0..n {
            for y in 0..oh as isize {
                for x in 0..ow as isize {
                    let (iy, ix) = (y - top, x - left);
                    let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                    let base = if inside { ((b * h + iy as usize) * w + ix as usize) * c } else { ZERO };
                    map.extend((0..c).map(|k| if inside { base + k } else { ZERO }));
                }
            }
        }
        Ok(self.backend().index_map("pad2d", self, vec![n, oh, ow, c], map))
    }

    /// Repeats each row `sh` times and each column `sw` times (nearest-neighbour upsampling of NHWC images).
    pub fn upsample2d(&self, (sh, sw): (usize, usize)) -> Result<Tensor> {
        let &[n, h, w, c] = self.shape() else {
            return Err(Error::shape("upsample2d", format!("expects NHWC images (rank 4), got {}", fmt_shape(self.shape()))));
        };
        if sh == 0 || sw == 0 {
            return Err(Error::shape("upsample2d", format!("size must be positive, got ({sh}, {sw})")));
        }
        let (oh, ow) = (h * sh, w * sw);
        let mut map = Vec::with_capacity(n * oh * ow * c);
        for b in 0..n {
            for y in 0..oh {
                for x in 0..ow {
                    let base = ((b * h + y / sh) * w + x / sw) * c;
                    map.extend(base..base + c);
                }
            }
        }
        Ok(self.backend().index_map("upsample2d", self, vec![n, oh, ow, c], map))
    }
}

impl Tensor {
    /// A `(kh, kw, in / groups, out)` convolution kernel as the equivalent dense
    /// `((kh-1)·dh+1, (kw-1)·dw+1, in, out)` kernel: zeros between the taps
    /// (dilation) and outside each group's block of channels (grouped convolution).
    /// Without dilation or groups it is the kernel itself.
    pub fn expand_kernel(&self, (dh, dw): (usize, usize), groups: usize) -> Result<Tensor> {
        let &[kh, kw, group_in, out] = self.shape() else {
            return Err(Error::shape("expand_kernel", format!("expects a (kh, kw, in, out) kernel, got {}", fmt_shape(self.shape()))));
        };
        if dh == 0 || dw == 0 || groups == 0 || out % groups != 0 {
            return Err(Error::shape("expand_kernel", format!("dilation ({dh}, {dw}) and groups {groups} do not fit kernel {}", fmt_shape(self.shape()))));
        }
        if (dh, dw) == (1, 1) && groups == 1 {
            return Ok(self.clone());
        }
        let (eh, ew, cin, group_out) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1, group_in * groups, out / groups);
        let mut map = Vec::with_capacity(eh * ew * cin * out);
        for y in 0..eh {
            for x in 0..ew {
                let tap = (y % dh == 0 && x % dw == 0).then(|| (y / dh * kw + x / dw) * group_in);
                for ci in 0..cin {
                    for co in 0..out {
                        let same_group = ci / group_in == co / group_out;
                        map.push(match tap {
                            Some(t) if same_group => (t + ci % group_in) * out + co,
                            _ => ZERO,
                        });
                    }
                }
            }
        }
        Ok(self.backend().index_map("expand_kernel", self, vec![eh, ew, cin, out], map))
    }
}
