#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wayrail_fuzz::clipboard_formats(data));
