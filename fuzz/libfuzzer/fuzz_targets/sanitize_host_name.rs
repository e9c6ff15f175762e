#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wayrail_fuzz::sanitize_host_name(data));
