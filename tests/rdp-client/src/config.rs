//! The IronRDP connector's configuration for a test client's options.

use ironrdp_connector::{Config, Credentials, DesktopSize};
use ironrdp_pdu::gcc::KeyboardType;
use ironrdp_pdu::rdp::capability_sets::{MajorPlatformType, RailSupportLevel};
use ironrdp_pdu::rdp::client_info::{PerformanceFlags, TimezoneInfo};

use crate::ClientOptions;

/// The connector's configuration for `opts`: TLS security, or NLA only, EGFX advertised.
pub(crate) fn connector_config(opts: &ClientOptions) -> Config {
    let desktop_size = if opts.monitors.is_empty() {
        DesktopSize { width: opts.size.0, height: opts.size.1 }
    } else {
        let (_, _, width, height) = crate::monitors::bounding_box(&opts.monitors);
        DesktopSize { width: width as u16, height: height as u16 }
    };
    let with_monitors = !opts.monitors.is_empty();
    Config {
        desktop_size,
        monitor_layout: with_monitors.then(|| crate::monitors::client_monitor_data(&opts.monitors)),
        desktop_scale_factor: opts.desktop_scale,
        desktop_physical_size: None,
        desktop_orientation: None,
        device_scale_factor: None,
        monitor_extended_layout: with_monitors.then(|| crate::monitors::client_monitor_extended_data(&opts.monitors)),
        relative_mouse_input: false,
        enable_tls: !opts.nla,
        enable_credssp: opts.nla,
        enable_standard_rdp_security: false,
        credentials: Credentials::UsernamePassword { username: opts.username.clone(), password: opts.password.clone() },
        domain: None,
        client_build: 0,
        client_name: "wayrail-test".into(),
        keyboard_type: KeyboardType::IBM_ENHANCED,
        keyboard_subtype: 0,
        keyboard_functional_keys_count: 12,
        keyboard_layout: opts.keyboard_layout,
        connection_type: ironrdp_pdu::gcc::ConnectionType::Lan,
        ime_file_name: String::new(),
        bitmap: None,
        dig_product_id: String::new(),
        client_dir: String::new(),
        alternate_shell: String::new(),
        work_dir: String::new(),
        remote_application_mode: opts.remote_app,
        rail_support_level: if opts.remote_app {
            RailSupportLevel::SUPPORTED | RailSupportLevel::HANDSHAKE_EX_SUPPORTED
        } else {
            RailSupportLevel::empty()
        },
        platform: MajorPlatformType::UNIX,
        hardware_id: None,
        request_data: None,
        autologon: true,
        enable_audio_playback: false,
        enable_audio_capture: false,
        performance_flags: PerformanceFlags::default(),
        license_cache: None,
        timezone_info: TimezoneInfo::default(),
        compression_type: None,
        // Pointer updates are reported as events, never drawn into the image the test samples.
        enable_server_pointer: true,
        pointer_software_rendering: false,
        multitransport_flags: None,
        support_dyn_vc_gfx_protocol: true,
    }
}
