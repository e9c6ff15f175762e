//! The host's end of `rdpsnd` (sound from the server): IronRDP's rdpsnd client with a
//! handler that keeps every wave instead of playing it (decoded to 16-bit PCM when the
//! server sends ADPCM), so tests can measure the samples; and the measurements (dominant
//! frequency, level) of 16-bit PCM.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use ironrdp_rdpsnd::client::{Rdpsnd, RdpsndClientHandler};
use ironrdp_rdpsnd::codec::AudioDecoder;
use ironrdp_rdpsnd::pdu::{AudioFormat, AudioFormatFlags, PitchPdu, VolumePdu, WaveFormat};

/// What the server sent on `rdpsnd`.
#[derive(Debug, Default)]
pub struct SoundLog {
    /// The format of the last wave.
    pub format: Option<AudioFormat>,
    /// Every wave's samples, in order: 16-bit PCM, decoded when the wave was not PCM.
    pub pcm: Vec<u8>,
    /// The bytes of the waves as they came, before decoding.
    pub wire_bytes: u64,
    pub waves: u64,
    /// Wave timestamps (the server's `dwAudioTimeStamp`), in order.
    pub timestamps: Vec<u32>,
    pub closed: bool,
}

/// A [`SoundLog`] the test reads while the client fills it.
#[derive(Debug, Clone, Default)]
pub struct SharedSoundLog(Arc<Mutex<SoundLog>>);

impl SharedSoundLog {
    pub fn lock(&self) -> MutexGuard<'_, SoundLog> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The samples received so far, interleaved.
    pub fn samples(&self) -> Vec<i16> {
        self.lock().pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
    }
}

#[derive(Debug)]
struct Collector {
    formats: Vec<AudioFormat>,
    log: SharedSoundLog,
}

impl RdpsndClientHandler for Collector {
    fn get_flags(&self) -> AudioFormatFlags {
        AudioFormatFlags::ALIVE | AudioFormatFlags::VOLUME
    }

    fn get_formats(&self) -> &[AudioFormat] {
        &self.formats
    }

    /// The server's formats this client can play, as the server spelled them (any block size
    /// of a format, as FreeRDP and Windows take), in this client's order of preference.
    fn choose_formats(&self, server_formats: &[AudioFormat]) -> Vec<AudioFormat> {
        let mut chosen: Vec<AudioFormat> = Vec::new();
        for ours in &self.formats {
            for theirs in server_formats {
                let same = theirs.format == ours.format
                    && theirs.n_samples_per_sec == ours.n_samples_per_sec
                    && theirs.n_channels == ours.n_channels
                    && theirs.bits_per_sample == ours.bits_per_sample;
                if same && !chosen.contains(theirs) {
                    chosen.push(theirs.clone());
                }
            }
        }
        chosen
    }

    fn wave(&mut self, format: &AudioFormat, ts: u32, data: Cow<'_, [u8]>) {
        let mut log = self.log.lock();
        log.format = Some(format.clone());
        log.wire_bytes += data.len() as u64;
        if format.format == WaveFormat::PCM {
            log.pcm.extend_from_slice(&data);
        } else {
            // Each wave is whole blocks, decoded on its own.
            let mut samples = Vec::new();
            if let Err(e) = AudioDecoder::new(format).and_then(|mut d| d.decode(&data, &mut samples)) {
                panic!("a wave the client cannot decode ({format:?}): {e}");
            }
            log.pcm.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        }
        log.waves += 1;
        log.timestamps.push(ts);
    }

    fn set_volume(&mut self, _volume: VolumePdu) {}

    fn set_pitch(&mut self, _pitch: PitchPdu) {}

    fn close(&mut self) {
        self.log.lock().closed = true;
    }
}

/// PCM, 16-bit, at `rate` with `channels`.
pub fn pcm(rate: u32, channels: u16) -> AudioFormat {
    AudioFormat {
        format: WaveFormat::PCM,
        n_channels: channels,
        n_samples_per_sec: rate,
        n_avg_bytes_per_sec: rate * u32::from(channels) * 2,
        n_block_align: channels * 2,
        bits_per_sample: 16,
        data: None,
    }
}

/// IMA ADPCM (4-bit) at `rate` with `channels`; the client takes it in any block size.
pub fn ima_adpcm(rate: u32, channels: u16) -> AudioFormat {
    ironrdp_rdpsnd::codec::ima_adpcm_format(channels, rate, 1024 * channels)
}

/// The `rdpsnd` channel of a client that takes `formats` (in its order of preference), and
/// the log it fills. Attach it with `ClientBuilder::with_static_channel`.
pub fn sound_client(formats: Vec<AudioFormat>) -> (Rdpsnd, SharedSoundLog) {
    let log = SharedSoundLog::default();
    (Rdpsnd::new(Box::new(Collector { formats, log: log.clone() })), log)
}

/// One channel of interleaved samples.
pub fn channel(samples: &[i16], channels: usize, which: usize) -> Vec<i16> {
    samples.iter().skip(which).step_by(channels).copied().collect()
}

/// The frequency of a tone from its rising zero crossings, each placed between its two
/// samples by linear interpolation: crossings counted over the time between the first and
/// the last. None with fewer than two crossings.
pub fn zero_crossing_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    let mut first = None;
    let mut last = 0.0;
    let mut count = 0u64;
    for (i, pair) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]), f64::from(pair[1]));
        if a < 0.0 && b >= 0.0 {
            let at = i as f64 + (-a) / (b - a);
            first.get_or_insert(at);
            last = at;
            count += 1;
        }
    }
    let first = first?;
    (count >= 2).then(|| (count - 1) as f64 * f64::from(rate) / (last - first))
}

/// The power of `freq` in `samples` (Goertzel), divided by the squared length so that it
/// compares between frequencies and lengths (a sine of amplitude A gives about A²/4).
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let n = samples.len().max(1) as f64;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}

/// The frequency in `lo..=hi` (1 Hz steps) with the most power: a scan that a tone's
/// harmonics or noise cannot fool the way they can fool zero crossings.
pub fn dominant_frequency(samples: &[i16], rate: u32, lo: u32, hi: u32) -> u32 {
    (lo..=hi)
        .max_by(|&a, &b| {
            goertzel_power(samples, rate, f64::from(a)).total_cmp(&goertzel_power(samples, rate, f64::from(b)))
        })
        .unwrap_or(lo)
}

/// Root mean square of the samples.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, amplitude: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as i16)
            .collect()
    }

    #[test]
    fn a_tone_is_measured_to_its_frequency_and_level() {
        let tone = sine(1000.0, 44_100, 8000.0, 22_050);
        let f = zero_crossing_frequency(&tone, 44_100).unwrap();
        assert!((f - 1000.0).abs() < 1.0, "{f}");
        assert_eq!(dominant_frequency(&tone, 44_100, 900, 1100), 1000);
        let level = rms(&tone);
        assert!((level - 8000.0 / 2f64.sqrt()).abs() < 10.0, "{level}");
        let other = sine(1030.0, 48_000, 3000.0, 24_000);
        assert!((zero_crossing_frequency(&other, 48_000).unwrap() - 1030.0).abs() < 1.0);
        assert_eq!(dominant_frequency(&other, 48_000, 900, 1100), 1030);
        assert_eq!(zero_crossing_frequency(&[0; 100], 44_100), None);
        assert_eq!(rms(&[]), 0.0);
    }

    #[test]
    fn channels_are_taken_apart() {
        assert_eq!(channel(&[1, -1, 2, -2, 3, -3], 2, 1), vec![-1, -2, -3]);
    }
}
