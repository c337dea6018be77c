//! Code the integration tests share (`mod support;` in each test file that needs it).
#![allow(dead_code)]

pub mod interp;
