//! The compute engine. For now: finding the GPU and reporting what it can do; the
//! forward passes and act² accumulation build on [`gpu`].

pub mod cpu;
pub mod gpu;
