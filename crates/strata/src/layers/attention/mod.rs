//! Attention layers, as Keras's.

mod multi_head_attention;

pub use multi_head_attention::MultiHeadAttention;
