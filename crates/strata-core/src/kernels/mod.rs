//! CPU kernels: plain functions over `f32` slices with explicit sizes. They
//! know nothing of tensors, graphs or layers, which keeps them testable and
//! keeps the door open for other backends. Each fast kernel has a slow,
//! obvious reference version beside it that the tests compare against.

pub(crate) mod simd;

pub mod conv;
pub mod direct;
pub mod window;
pub mod winograd;
pub mod elementwise;
pub mod fastmath;
pub mod gather;
pub mod matmul;
pub mod optim;
pub mod peak;
pub mod pool;
pub mod pool_tiles;
pub mod region;
pub mod first_layer;
pub mod thin;
pub mod tile;
