//! Sound to the host end to end: `paplay` plays a generated 1 kHz tone into wayrail's own
//! PulseAudio, and the RDP client gets it on `rdpsnd` — the IronRDP test client measures the
//! samples (frequency and level), xfreerdp3 with its fake sound device confirms every wave.
//! Nothing playing sends nothing; with no client apps play all the same, and a client that
//! connects later gets the sound. The other way, `parecord` records the 440 Hz tone the test
//! client's microphone "captures", and that microphone is open only while parecord records.

use std::path::Path;
use std::time::{Duration, Instant};

use wayrail_e2e::ironrdp::{self, pump};
use wayrail_e2e::rdp::{FreeRdp, FreeRdpVersion, Xvfb};
use wayrail_e2e::{require_programs, wait_until, Client, Compositor, Value};
use wayrail_rdp_testclient::ironrdp_dvc::DrdynvcClient;
use wayrail_rdp_testclient::sound::{self, channel, dominant_frequency, rms, zero_crossing_frequency};
use wayrail_rdp_testclient::{mic_client, sound_client, ClientBuilder, ClientOptions, SharedSoundLog, TestClient};

const STEP: Duration = Duration::from_secs(20);
const RATE: u32 = 44_100;
const TONE_HZ: f64 = 1000.0;
/// The tone's amplitude: a quarter of full scale, so its RMS is 8192 / √2.
const AMPLITUDE: f64 = 8192.0;
/// One second of the tone, stereo 16-bit: what the client must get (give or take a packet).
const TONE_BYTES: usize = RATE as usize * 4;

/// Writes a WAV file of `seconds` of a sine at `freq`, both channels alike.
fn write_tone(path: &Path, freq: f64, seconds: f64) {
    let frames = (f64::from(RATE) * seconds) as u32;
    let data_len = frames * 4;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&2u16.to_le_bytes()); // channels
    wav.extend_from_slice(&RATE.to_le_bytes());
    wav.extend_from_slice(&(RATE * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..frames {
        let s = (AMPLITUDE * (2.0 * std::f64::consts::PI * freq * f64::from(i) / f64::from(RATE)).sin()) as i16;
        wav.extend_from_slice(&s.to_le_bytes());
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).unwrap();
}

fn audio(wr: &Compositor) -> Value {
    wr.msg_json(&["audio"])
}

fn figure(status: &Value, name: &str) -> u64 {
    status[name].as_u64().unwrap_or_else(|| panic!("no {name} in {status}"))
}

/// Starts `paplay` of a 1 s tone on wayrail's sound server.
fn paplay_tone(wr: &Compositor, name: &str) -> Client {
    let status = audio(wr);
    assert_eq!(status["enabled"], true, "wayrail plays no sound: {status}\n{}", wr.log_tail(20));
    // Where a supervisor expects it before wayrail runs: named after the Wayland socket.
    let socket = wr.runtime_dir().join(format!("wayrail-audio.{}/native", wr.socket));
    assert_eq!(status["pulse_server"], format!("unix:{}", socket.display()), "{status}");
    let wav = wr.path(&format!("{name}.wav"));
    write_tone(&wav, TONE_HZ, 1.0);
    let mut cmd = wr.command("paplay");
    cmd.arg(&wav).env("PULSE_SERVER", status["pulse_server"].as_str().unwrap());
    wr.spawn("paplay", cmd)
}

/// Waits (pumping the client) until wayrail says the client negotiated a sound format.
async fn wait_sound_negotiated(wr: &Compositor, client: &mut TestClient) -> Value {
    let deadline = Instant::now() + STEP;
    loop {
        let status = audio(wr);
        if !status["client_format"].is_null() {
            return status;
        }
        assert!(Instant::now() < deadline, "the client never took a sound format: {status}\n{}", wr.log_tail(30));
        pump(client, 100).await;
    }
}

/// The IronRDP test client with `rdpsnd`, connected and its sound negotiated.
async fn connect_with_sound(wr: &Compositor) -> (TestClient, SharedSoundLog) {
    // It prefers 48 kHz, which wayrail's sink does not have: wayrail picks the PCM it has.
    let (channel, log) = sound_client(vec![sound::pcm(48_000, 2), sound::pcm(RATE, 2)]);
    let builder = ClientBuilder::new(ClientOptions::default()).with_static_channel(channel);
    let mut client = ironrdp::connect_gfx(wr, builder, STEP).await;
    let status = wait_sound_negotiated(wr, &mut client).await;
    assert_eq!(status["client_format"], "PCM 44100 Hz 2 ch 16 bit", "{status}");
    (client, log)
}

/// Pumps until the client got the whole tone and paplay ended.
async fn receive_tone(wr: &Compositor, client: &mut TestClient, log: &SharedSoundLog, paplay: &mut Client) {
    let deadline = Instant::now() + STEP;
    while log.lock().pcm.len() < TONE_BYTES || !paplay.has_exited() {
        assert!(
            Instant::now() < deadline,
            "the client got {} of {TONE_BYTES} bytes of the tone: {}\npaplay: {}\n{}",
            log.lock().pcm.len(),
            audio(wr),
            paplay.log_tail(10),
            wr.log_tail(30)
        );
        pump(client, 50).await;
    }
    let status = paplay.wait_exit(Duration::from_secs(1)).expect("paplay ended");
    assert!(status.success(), "paplay failed ({status}): {}", paplay.log_tail(10));
}

/// The received samples are the tone: 1 kHz ± 1 % on both channels, at the tone's level.
fn assert_is_the_tone(log: &SharedSoundLog) {
    let samples = log.samples();
    let format = log.lock().format.clone().expect("a wave arrived");
    assert_eq!((format.n_samples_per_sec, format.n_channels), (RATE, 2));
    let bytes = samples.len() * 2;
    // Silence is never sent: what arrives is the tone, give or take the packets (20 ms) at its ends.
    assert!(
        (TONE_BYTES..=TONE_BYTES + 2 * 3528).contains(&bytes),
        "{bytes} bytes of sound for a {TONE_BYTES}-byte tone"
    );
    for which in 0..2 {
        let samples = channel(&samples, 2, which);
        // Away from the ends, where a packet holds some silence.
        let middle = &samples[2000..samples.len() - 2000];
        let crossing = zero_crossing_frequency(middle, RATE).expect("a tone");
        let dominant = dominant_frequency(middle, RATE, 500, 2000);
        let level = rms(middle);
        eprintln!("channel {which}: {crossing:.2} Hz by zero crossings, {dominant} Hz dominant, RMS {level:.1}");
        assert!((crossing - TONE_HZ).abs() <= TONE_HZ * 0.01, "channel {which}: {crossing} Hz");
        assert!((f64::from(dominant) - TONE_HZ).abs() <= TONE_HZ * 0.01, "channel {which}: {dominant} Hz dominant");
        let expected = AMPLITUDE / 2f64.sqrt();
        assert!((level - expected).abs() <= expected * 0.05, "channel {which}: RMS {level}, the tone's is {expected}");
    }
}

#[test]
fn paplay_reaches_the_ironrdp_client_as_a_1khz_tone() {
    require_programs!("pulseaudio", "paplay");
    let wr = Compositor::start_rdp(&[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (mut client, log) = connect_with_sound(&wr).await;
        let mut paplay = paplay_tone(&wr, "tone");
        receive_tone(&wr, &mut client, &log, &mut paplay).await;
        assert_is_the_tone(&log);
        let status = audio(&wr);
        eprintln!("wayrail's audio figures: {status}");
        assert_eq!(figure(&status, "packets_sent"), log.lock().waves, "one wave per packet sent");
        assert_eq!(figure(&status, "bytes_sent") as usize, log.lock().pcm.len());
        assert_eq!(figure(&status, "dropped_packets"), 0);
        // The client confirms every wave (IronRDP's client once per wave).
        let waves = log.lock().waves;
        let deadline = Instant::now() + STEP;
        while figure(&audio(&wr), "wave_confirms") < waves {
            assert!(Instant::now() < deadline, "{waves} waves, confirms: {}", audio(&wr));
            pump(&mut client, 50).await;
        }
    });
}

#[test]
fn nothing_playing_sends_nothing_and_reads_nothing() {
    require_programs!("pulseaudio", "paplay");
    let wr = Compositor::start_rdp(&[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (mut client, log) = connect_with_sound(&wr).await;
        // The sink writes silence for its first second, then suspends: wait until it is still.
        let mut last = figure(&audio(&wr), "bytes_read");
        let deadline = Instant::now() + STEP;
        loop {
            pump(&mut client, 1500).await;
            let now = figure(&audio(&wr), "bytes_read");
            if now == last {
                break;
            }
            assert!(Instant::now() < deadline, "the idle sink never suspends: {}", audio(&wr));
            last = now;
        }
        let before = audio(&wr);
        pump(&mut client, 5000).await;
        let after = audio(&wr);
        eprintln!("idle for 5 s: before {before}\nafter {after}");
        assert_eq!(log.lock().waves, 0, "the client got sound while nothing played");
        assert_eq!(figure(&after, "packets_sent"), 0, "{after}");
        assert_eq!(figure(&after, "bytes_read"), figure(&before, "bytes_read"), "an idle sink wakes the reader");
        assert!(figure(&after, "silent_packets") > 0, "the first second's silence was read and dropped: {after}");
    });
}

#[test]
fn without_a_client_apps_play_and_a_later_client_gets_the_sound_then_one_that_takes_over() {
    require_programs!("pulseaudio", "paplay");
    let wr = Compositor::start_rdp(&[]);
    let started = Instant::now();
    let mut paplay = paplay_tone(&wr, "alone");
    let status = paplay.wait_exit(Duration::from_secs(10)).expect("paplay blocks without a client");
    assert!(status.success(), "paplay failed ({status}): {}", paplay.log_tail(10));
    eprintln!("paplay of 1 s without a client took {:?}", started.elapsed());
    let alone = audio(&wr);
    assert!(figure(&alone, "no_client_packets") >= 49, "the tone was not read: {alone}");
    assert_eq!(figure(&alone, "packets_sent"), 0);
    assert!(alone["client_format"].is_null());

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (mut client, log) = connect_with_sound(&wr).await;
        let mut paplay = paplay_tone(&wr, "later");
        receive_tone(&wr, &mut client, &log, &mut paplay).await;
        assert_is_the_tone(&log);
        let first_session = audio(&wr)["session"].clone();

        // A reconnection takes the session over: the sound goes to it, none to the old client.
        let (mut second, second_log) = connect_with_sound(&wr).await;
        let deadline = Instant::now() + STEP;
        while audio(&wr)["session"] == first_session || audio(&wr)["session"].is_null() {
            assert!(Instant::now() < deadline, "the new session never gets the sound: {}", audio(&wr));
            pump(&mut second, 50).await;
        }
        let before = log.lock().pcm.len();
        let mut paplay = paplay_tone(&wr, "takeover");
        receive_tone(&wr, &mut second, &second_log, &mut paplay).await;
        assert_is_the_tone(&second_log);
        let _ = client.pump(Duration::from_millis(200)).await;
        assert_eq!(log.lock().pcm.len(), before, "the replaced client got sound");
    });
}

/// `[audio] codec = "adpcm"`: the test client, which takes IMA ADPCM and PCM, gets ADPCM,
/// a quarter of PCM's bytes, and decodes the tone from it.
#[test]
fn with_adpcm_the_tone_arrives_in_a_quarter_of_the_bytes() {
    require_programs!("pulseaudio", "paplay");
    let dir = wayrail_e2e::TempDir::new("wayrail-audio-config");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[audio]\ncodec = \"adpcm\"\n").unwrap();
    let wr = Compositor::start_rdp(&["--config", config.to_str().unwrap()]);
    assert_eq!(audio(&wr)["codec"], "adpcm");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (channel, log) = sound_client(vec![sound::ima_adpcm(RATE, 2), sound::pcm(RATE, 2)]);
        let builder = ClientBuilder::new(ClientOptions::default()).with_static_channel(channel);
        let mut client = ironrdp::connect_gfx(&wr, builder, STEP).await;
        let status = wait_sound_negotiated(&wr, &mut client).await;
        assert_eq!(status["client_format"], "IMA ADPCM 44100 Hz 2 ch 4 bit", "{status}");
        let mut paplay = paplay_tone(&wr, "tone");
        receive_tone(&wr, &mut client, &log, &mut paplay).await;
        assert_is_the_tone(&log);
        let status = audio(&wr);
        let (wire, pcm) = {
            let log = log.lock();
            (log.wire_bytes, log.pcm.len() as u64)
        };
        eprintln!("ADPCM: {wire} bytes on the wire for {pcm} bytes of PCM; wayrail: {status}");
        assert_eq!(figure(&status, "bytes_sent"), wire, "wayrail counts what it sent");
        assert!(wire * 100 <= pcm * 26, "{wire} bytes for {pcm} of PCM");
    });
}

#[test]
fn xfreerdp3_with_a_fake_sound_device_confirms_every_wave() {
    xfreerdp3_confirms_every_wave(None, "PCM 44100 Hz 2 ch 16 bit");
}

/// xfreerdp3 takes wayrail's IMA ADPCM (`[audio] codec = "adpcm"`) and confirms its waves.
#[test]
fn xfreerdp3_takes_adpcm_and_confirms_every_wave() {
    xfreerdp3_confirms_every_wave(Some("adpcm"), "IMA ADPCM 44100 Hz 2 ch 4 bit");
}

/// xfreerdp3 with its fake sound device, wayrail with `[audio] codec` = `codec`: the client
/// takes `format` and confirms every wave of a tone.
fn xfreerdp3_confirms_every_wave(codec: Option<&str>, format: &str) {
    require_programs!("pulseaudio", "paplay", "Xvfb", "xfreerdp3");
    let dir = wayrail_e2e::TempDir::new("wayrail-audio-config");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, codec.map(|c| format!("[audio]\ncodec = {c:?}\n")).unwrap_or_default()).unwrap();
    let wr = Compositor::start_rdp(&["--config", config.to_str().unwrap()]);
    let x = Xvfb::start(wr.runtime_dir());
    let _rdp = FreeRdp::connect(&wr, &x, FreeRdpVersion::V3, (1024, 768), &["/sound:sys:fake"]);
    let negotiated = wait_until(STEP, || !audio(&wr)["client_format"].is_null());
    assert!(negotiated, "xfreerdp3 took no sound format: {}\n{}", audio(&wr), wr.log_tail(30));
    assert_eq!(audio(&wr)["client_format"], format);
    let mut paplay = paplay_tone(&wr, "xfreerdp");
    let status = paplay.wait_exit(STEP).expect("paplay ends");
    assert!(status.success(), "paplay failed ({status}): {}", paplay.log_tail(10));
    // xfreerdp3 confirms each wave twice: on receipt and once played.
    let confirmed = wait_until(STEP, || {
        let s = audio(&wr);
        figure(&s, "packets_sent") >= 50 && figure(&s, "wave_confirms") >= 2 * figure(&s, "packets_sent")
    });
    let status = audio(&wr);
    eprintln!("xfreerdp3: {status}");
    assert!(confirmed, "waves not (all) confirmed: {status}\n{}", wr.log_tail(20));
    // A quarter of the bytes with ADPCM, give or take a block.
    let pcm_bytes = if codec == Some("adpcm") { TONE_BYTES / 4 - 4096 } else { TONE_BYTES };
    assert!(figure(&status, "bytes_sent") as usize >= pcm_bytes, "{status}");
    assert!(codec.is_none() || (figure(&status, "bytes_sent") as usize) < TONE_BYTES / 3, "{status}");
}

/// `len` mono samples of a sine at `freq`, starting at sample `from`.
fn sine_pcm(freq: f64, from: usize, len: usize) -> Vec<u8> {
    (from..from + len)
        .flat_map(|i| {
            let s = AMPLITUDE * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(RATE)).sin();
            (s as i16).to_le_bytes()
        })
        .collect()
}

#[test]
fn parecord_records_the_clients_microphone_which_is_open_only_while_it_records() {
    require_programs!("pulseaudio", "parecord", "pactl");
    let wr = Compositor::start_rdp(&[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (channel, mic) = mic_client(vec![sound::pcm(48_000, 1), sound::pcm(RATE, 1)]);
        let builder = ClientBuilder::new(ClientOptions::default()).with_dynamic_channel(channel);
        let mut client = ironrdp::connect_gfx(&wr, builder, STEP).await;
        let status = audio(&wr);
        assert_eq!(status["microphone"]["recording"], false, "{status}");
        pump(&mut client, 1500).await;
        assert_eq!(mic.lock().opens, 0, "the microphone was opened while nobody recorded");

        let recording = wr.path("recording.raw");
        let mut cmd = wr.command("parecord");
        cmd.args(["--raw", "--format=s16le", "--rate=44100", "--channels=1"]).arg(&recording);
        cmd.env("PULSE_SERVER", status["pulse_server"].as_str().unwrap());
        let mut parecord = wr.spawn("parecord", cmd);
        let opened = client.pump_until(STEP, |_| mic.lock().opened.is_some()).await;
        opened.unwrap_or_else(|e| panic!("the microphone was not opened: {e:#}: {}\n{}", audio(&wr), wr.log_tail(20)));
        let (format, packet) = mic.lock().opened.clone().unwrap();
        assert_eq!((format.n_samples_per_sec, format.n_channels, packet), (RATE, 1, 882), "10 ms packets of s16 mono");
        assert_eq!(audio(&wr)["microphone"]["recording"], true);

        // One second of a 440 Hz tone, in real time.
        let samples = RATE as usize;
        for (k, from) in (0..samples).step_by(441 * 4).enumerate() {
            assert!(
                mic.inject(&sine_pcm(440.0, from, (441 * 4).min(samples - from))),
                "packet {k}: the microphone closed"
            );
            client.send_svc::<DrdynvcClient>(mic.take_outgoing()).await.unwrap();
            pump(&mut client, 40).await;
        }
        let deadline = Instant::now() + STEP;
        while std::fs::metadata(&recording).map_or(0, |m| m.len()) < (samples * 2) as u64 {
            assert!(Instant::now() < deadline, "parecord wrote too little: {}\n{}", audio(&wr), parecord.log_tail(10));
            pump(&mut client, 50).await;
        }
        parecord.signal(libc::SIGINT);
        assert!(parecord.wait_exit(Duration::from_secs(5)).is_some(), "parecord does not end");
        let closed = client.pump_until(STEP, |_| mic.lock().closes >= 1).await;
        closed
            .unwrap_or_else(|e| panic!("the microphone stayed open after parecord ended: {e:#}\n{}", wr.log_tail(20)));
        assert!(mic.lock().opened.is_none());
        let status = audio(&wr);
        eprintln!("microphone: {}", status["microphone"]);
        assert_eq!(status["microphone"]["recording"], false);

        let pcm = std::fs::read(&recording).unwrap();
        let recorded: Vec<i16> = pcm.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        let middle = &recorded[2000..recorded.len() - 2000];
        let crossing = zero_crossing_frequency(middle, RATE).expect("a tone");
        let dominant = dominant_frequency(middle, RATE, 200, 1000);
        let level = rms(middle);
        eprintln!(
            "recorded {} samples: {crossing:.2} Hz by zero crossings, {dominant} Hz dominant, RMS {level:.1}",
            recorded.len()
        );
        assert!((crossing - 440.0).abs() <= 4.4, "{crossing} Hz");
        assert!((f64::from(dominant) - 440.0).abs() <= 4.4, "{dominant} Hz dominant");
        let expected = AMPLITUDE / 2f64.sqrt();
        assert!((level - expected).abs() <= expected * 0.05, "RMS {level}, the tone's is {expected}");
    });
}
