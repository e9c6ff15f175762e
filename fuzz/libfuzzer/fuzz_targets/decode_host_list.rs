#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wayrail_fuzz::decode_host_list(data));
