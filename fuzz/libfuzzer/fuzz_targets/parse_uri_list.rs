#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wayrail_fuzz::parse_uri_list(data));
