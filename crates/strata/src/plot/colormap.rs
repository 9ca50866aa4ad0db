//! The colour scale of heat maps and confusion matrices.

use plotters::style::RGBColor;

/// Matplotlib's "inferno" at nine evenly spaced points, dark to bright.
const INFERNO: [(u8, u8, u8); 9] = [
    (0, 0, 4),
    (31, 12, 72),
    (85, 15, 109),
    (136, 34, 106),
    (186, 54, 85),
    (227, 89, 51),
    (249, 140, 10),
    (249, 201, 50),
    (252, 255, 164),
];

/// The colour of `v` in [0, 1] (clamped; NaN as 0) on a dark-to-bright scale.
pub fn heat_color(v: f32) -> RGBColor {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    let at = v * (INFERNO.len() - 1) as f32;
    let i = (at.floor() as usize).min(INFERNO.len() - 2);
    let t = at - i as f32;
    let mix = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * t).round() as u8;
    let (a, b) = (INFERNO[i], INFERNO[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
