//! The event handlers: each records into the [`Base`] and then calls the app's hook.

use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_keyboard, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm,
    wl_shm_pool, wl_subcompositor, wl_subsurface, wl_surface,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};
use wayland_protocols::wp::fractional_scale::v1::client::{wp_fractional_scale_manager_v1, wp_fractional_scale_v1};
use wayland_protocols::wp::viewporter::client::{wp_viewport, wp_viewporter};
use wayland_protocols::xdg::decoration::zv1::client::{zxdg_decoration_manager_v1, zxdg_toplevel_decoration_v1};
use wayland_protocols::xdg::shell::client::{xdg_popup, xdg_positioner, xdg_surface, xdg_toplevel, xdg_wm_base};

use crate::xdg::{toplevel_states, Configure};
use crate::{sid, Base, Client, FrameToken, OneShotBuffer, Output, SyncToken};

/// `impl Dispatch<$iface, $udata, C> for Base` with the handler written as a closure of the
/// app, the proxy, the event, the user data and the queue handle.
macro_rules! handle {
    ($iface:ty, $udata:ty, |$app:pat_param, $proxy:pat_param, $event:pat_param, $data:pat_param, $qh:pat_param| $body:block) => {
        impl<C: Client> Dispatch<$iface, $udata, C> for Base {
            fn event(
                $app: &mut C,
                $proxy: &$iface,
                $event: <$iface as Proxy>::Event,
                $data: &$udata,
                _: &Connection,
                $qh: &QueueHandle<C>,
            ) $body
        }
    };
}

handle!(wl_registry::WlRegistry, (), |app, registry, event, _, qh| {
    let base = app.base();
    match event {
        wl_registry::Event::Global { name, interface, version } => {
            base.advertised.push((name, interface.clone(), version));
            let g = &mut base.globals;
            match interface.as_str() {
                // damage_buffer needs version 4.
                "wl_compositor" if version >= 4 => g.compositor = Some(registry.bind(name, version.min(6), qh, ())),
                "wl_subcompositor" => g.subcompositor = Some(registry.bind(name, 1, qh, ())),
                "wl_shm" => g.shm = Some(registry.bind(name, 1, qh, ())),
                "xdg_wm_base" => g.wm_base = Some(registry.bind(name, version.min(6), qh, ())),
                // Version 8 for axis_value120.
                "wl_seat" => g.seat = Some(registry.bind(name, version.min(9), qh, ())),
                "wp_fractional_scale_manager_v1" => g.fractional_scale = Some(registry.bind(name, 1, qh, ())),
                "wp_viewporter" => g.viewporter = Some(registry.bind(name, 1, qh, ())),
                "zxdg_decoration_manager_v1" => g.decoration_manager = Some(registry.bind(name, 1, qh, ())),
                "wl_output" if version >= base.min_output_version => {
                    let wl_output = registry.bind(name, version.min(4), qh, ());
                    g.outputs.push(Output { wl_output, global: name, name: None, scale: 1, removed: false });
                }
                _ => {}
            }
        }
        wl_registry::Event::GlobalRemove { name } => {
            base.advertised.retain(|(n, _, _)| *n != name);
            if let Some(output) = base.globals.outputs.iter_mut().find(|o| o.global == name) {
                output.removed = true;
            }
        }
        _ => {}
    }
});

handle!(wl_callback::WlCallback, SyncToken, |app, _, event, token, _| {
    if let wl_callback::Event::Done { .. } = event {
        app.base().syncs_done.insert(token.0);
    }
});

handle!(wl_callback::WlCallback, FrameToken, |app, _, event, token, _| {
    if let wl_callback::Event::Done { callback_data } = event {
        app.base().surfaces.entry(token.0).or_default().frames_done += 1;
        app.frame_done(token.0, callback_data);
    }
});

handle!(wl_surface::WlSurface, (), |app, surface, event, _, _| {
    let record = app.base().surfaces.entry(sid(surface)).or_default();
    match &event {
        wl_surface::Event::PreferredBufferScale { factor } => record.preferred_buffer_scale = Some(*factor),
        wl_surface::Event::Enter { .. } => record.outputs_entered += 1,
        wl_surface::Event::Leave { .. } => record.outputs_entered = record.outputs_entered.saturating_sub(1),
        _ => {}
    }
    app.surface_event(surface, &event);
});

handle!(wp_fractional_scale_v1::WpFractionalScaleV1, u32, |app, _, event, surface, _| {
    if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
        app.base().surfaces.entry(*surface).or_default().fractional_scale = Some(scale);
        app.fractional_scale(*surface, scale);
    }
});

handle!(wl_output::WlOutput, (), |app, wl_output, event, _, _| {
    if let Some(output) = app.base().globals.outputs.iter_mut().find(|o| &o.wl_output == wl_output) {
        match &event {
            wl_output::Event::Name { name } => output.name = Some(name.clone()),
            wl_output::Event::Scale { factor } => output.scale = *factor,
            _ => {}
        }
    }
    app.output_event(wl_output, &event);
});

handle!(wl_shm::WlShm, (), |app, _, event, _, _| {
    if let wl_shm::Event::Format { format } = event {
        app.base().shm_formats.push(format.into());
    }
});

handle!(wl_buffer::WlBuffer, OneShotBuffer, |_, buffer, event, _, _| {
    if let wl_buffer::Event::Release = event {
        buffer.destroy();
    }
});

handle!(wl_seat::WlSeat, (), |app, seat, event, _, qh| {
    if let wl_seat::Event::Capabilities { capabilities: WEnum::Value(caps) } = event {
        let base = app.base();
        if base.want_keyboard && caps.contains(wl_seat::Capability::Keyboard) && base.keyboard.is_none() {
            base.keyboard = Some(seat.get_keyboard(qh, ()));
        }
        if base.want_pointer && caps.contains(wl_seat::Capability::Pointer) && base.pointer.is_none() {
            base.pointer = Some(seat.get_pointer(qh, ()));
        }
    }
    app.seat_event(seat, &event, qh);
});

handle!(wl_pointer::WlPointer, (), |app, _, event, _, _| {
    app.pointer_event(&event);
});

handle!(wl_keyboard::WlKeyboard, (), |app, _, event, _, _| {
    app.keyboard_event(&event);
});

handle!(xdg_wm_base::XdgWmBase, (), |_, wm_base, event, _, _| {
    if let xdg_wm_base::Event::Ping { serial } = event {
        wm_base.pong(serial);
    }
});

handle!(xdg_surface::XdgSurface, usize, |app, xdg_surface, event, shell, _| {
    if let xdg_surface::Event::Configure { serial } = event {
        let base = app.base();
        let record = &mut base.shells[*shell];
        let configure = record.pending.take().expect("xdg_surface.configure without a role configure before it");
        record.configures.push((serial, configure));
        if base.auto_ack {
            xdg_surface.ack_configure(serial);
        }
        app.configured(*shell, serial);
    }
});

handle!(xdg_toplevel::XdgToplevel, usize, |app, _, event, shell, _| {
    match event {
        xdg_toplevel::Event::Configure { width, height, states } => {
            let states = toplevel_states(&states);
            app.toplevel_configure(*shell, width, height, &states);
            app.base().shells[*shell].pending = Some(Configure::Toplevel { width, height, states });
        }
        xdg_toplevel::Event::Close => {
            app.base().shells[*shell].close_requests += 1;
            app.close_requested(*shell);
        }
        _ => {}
    }
});

handle!(xdg_popup::XdgPopup, usize, |app, _, event, shell, _| {
    let record = &mut app.base().shells[*shell];
    match event {
        xdg_popup::Event::Configure { x, y, width, height } => {
            record.pending = Some(Configure::Popup { x, y, width, height })
        }
        xdg_popup::Event::PopupDone => record.popup_done = true,
        xdg_popup::Event::Repositioned { token } => record.repositioned.push(token),
        _ => {}
    }
});

handle!(zxdg_toplevel_decoration_v1::ZxdgToplevelDecorationV1, usize, |app, _, event, shell, _| {
    if let zxdg_toplevel_decoration_v1::Event::Configure { mode: WEnum::Value(mode) } = event {
        app.base().decoration_modes.insert(*shell, mode);
    }
});

/// Objects whose events nobody looks at (or that have none).
macro_rules! ignore_events {
    ($($iface:ty),* $(,)?) => {$(
        impl<C: Client> Dispatch<$iface, (), C> for Base {
            fn event(_: &mut C, _: &$iface, _: <$iface as Proxy>::Event, _: &(), _: &Connection, _: &QueueHandle<C>) {}
        }
    )*};
}

ignore_events!(
    wl_compositor::WlCompositor,
    wl_subcompositor::WlSubcompositor,
    wl_subsurface::WlSubsurface,
    wl_shm_pool::WlShmPool,
    wl_buffer::WlBuffer,
    xdg_positioner::XdgPositioner,
    wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1,
    wp_viewporter::WpViewporter,
    wp_viewport::WpViewport,
    zxdg_decoration_manager_v1::ZxdgDecorationManagerV1,
);
