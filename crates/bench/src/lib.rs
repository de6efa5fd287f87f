//! Load generator for `vibectl-server`: closed and open loops over gRPC, stream holding,
//! hdrhistogram percentiles, the server's own overhead from response metadata, and the memory
//! and CPU of watched processes.
pub mod load;
pub mod procstat;
pub mod report;
pub mod schedule;
