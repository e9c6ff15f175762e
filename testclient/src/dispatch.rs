//! The event handlers: each records into the [`Base`] and then calls the app's hook.

use wayland_client::protocol::{
    wl_buffer, wl_callback, wl_compositor, wl_keyboard, wl_output, wl_pointer, wl_registry, wl_seat, wl_shm,
    wl_shm_pool, wl_subcompositor, wl_subsurface, wl_surface,
};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum};
use wayland_protocols::wp::fractional_scale::v1::client::{wp_fractional_scale_manager_v1, wp_fractional_scale_v1};
use wayland_protocols::wp::viewporter::client::{wp_viewport, wp_viewporter};
use wayland_protocols::xdg::shell::client::{xdg_popup, xdg_positioner, xdg_surface, xdg_toplevel, xdg_wm_base};

use crate::xdg::{toplevel_states, Configure};
use crate::{sid, Base, Client, FrameToken, OneShotBuffer, Output, SyncToken};

impl<C: Client> Dispatch<wl_registry::WlRegistry, (), C> for Base {
    fn event(
        app: &mut C,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<C>,
    ) {
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
    }
}

impl<C: Client> Dispatch<wl_callback::WlCallback, SyncToken, C> for Base {
    fn event(
        app: &mut C,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        token: &SyncToken,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            app.base().syncs_done.insert(token.0);
        }
    }
}

impl<C: Client> Dispatch<wl_callback::WlCallback, FrameToken, C> for Base {
    fn event(
        app: &mut C,
        _: &wl_callback::WlCallback,
        event: wl_callback::Event,
        token: &FrameToken,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        if let wl_callback::Event::Done { callback_data } = event {
            app.base().surfaces.entry(token.0).or_default().frames_done += 1;
            app.frame_done(token.0, callback_data);
        }
    }
}

impl<C: Client> Dispatch<wl_surface::WlSurface, (), C> for Base {
    fn event(
        app: &mut C,
        surface: &wl_surface::WlSurface,
        event: wl_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        let record = app.base().surfaces.entry(sid(surface)).or_default();
        match &event {
            wl_surface::Event::PreferredBufferScale { factor } => record.preferred_buffer_scale = Some(*factor),
            wl_surface::Event::Enter { .. } => record.outputs_entered += 1,
            wl_surface::Event::Leave { .. } => record.outputs_entered = record.outputs_entered.saturating_sub(1),
            _ => {}
        }
        app.surface_event(surface, &event);
    }
}

impl<C: Client> Dispatch<wp_fractional_scale_v1::WpFractionalScaleV1, u32, C> for Base {
    fn event(
        app: &mut C,
        _: &wp_fractional_scale_v1::WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        surface: &u32,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            app.base().surfaces.entry(*surface).or_default().fractional_scale = Some(scale);
            app.fractional_scale(*surface, scale);
        }
    }
}

impl<C: Client> Dispatch<wl_output::WlOutput, (), C> for Base {
    fn event(
        app: &mut C,
        wl_output: &wl_output::WlOutput,
        event: wl_output::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        if let Some(output) = app.base().globals.outputs.iter_mut().find(|o| &o.wl_output == wl_output) {
            match &event {
                wl_output::Event::Name { name } => output.name = Some(name.clone()),
                wl_output::Event::Scale { factor } => output.scale = *factor,
                _ => {}
            }
        }
        app.output_event(wl_output, &event);
    }
}

impl<C: Client> Dispatch<wl_shm::WlShm, (), C> for Base {
    fn event(app: &mut C, _: &wl_shm::WlShm, event: wl_shm::Event, _: &(), _: &Connection, _: &QueueHandle<C>) {
        if let wl_shm::Event::Format { format } = event {
            app.base().shm_formats.push(format.into());
        }
    }
}

impl<C: Client> Dispatch<wl_buffer::WlBuffer, OneShotBuffer, C> for Base {
    fn event(
        _: &mut C,
        buffer: &wl_buffer::WlBuffer,
        event: wl_buffer::Event,
        _: &OneShotBuffer,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        if let wl_buffer::Event::Release = event {
            buffer.destroy();
        }
    }
}

impl<C: Client> Dispatch<wl_seat::WlSeat, (), C> for Base {
    fn event(app: &mut C, seat: &wl_seat::WlSeat, event: wl_seat::Event, _: &(), _: &Connection, qh: &QueueHandle<C>) {
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
    }
}

impl<C: Client> Dispatch<wl_pointer::WlPointer, (), C> for Base {
    fn event(
        app: &mut C,
        _: &wl_pointer::WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        app.pointer_event(&event);
    }
}

impl<C: Client> Dispatch<wl_keyboard::WlKeyboard, (), C> for Base {
    fn event(
        app: &mut C,
        _: &wl_keyboard::WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        app.keyboard_event(&event);
    }
}

impl<C: Client> Dispatch<xdg_wm_base::XdgWmBase, (), C> for Base {
    fn event(
        _: &mut C,
        wm_base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl<C: Client> Dispatch<xdg_surface::XdgSurface, usize, C> for Base {
    fn event(
        app: &mut C,
        xdg_surface: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        shell: &usize,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
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
    }
}

impl<C: Client> Dispatch<xdg_toplevel::XdgToplevel, usize, C> for Base {
    fn event(
        app: &mut C,
        _: &xdg_toplevel::XdgToplevel,
        event: xdg_toplevel::Event,
        shell: &usize,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
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
    }
}

impl<C: Client> Dispatch<xdg_popup::XdgPopup, usize, C> for Base {
    fn event(
        app: &mut C,
        _: &xdg_popup::XdgPopup,
        event: xdg_popup::Event,
        shell: &usize,
        _: &Connection,
        _: &QueueHandle<C>,
    ) {
        let record = &mut app.base().shells[*shell];
        match event {
            xdg_popup::Event::Configure { x, y, width, height } => {
                record.pending = Some(Configure::Popup { x, y, width, height })
            }
            xdg_popup::Event::PopupDone => record.popup_done = true,
            xdg_popup::Event::Repositioned { token } => record.repositioned.push(token),
            _ => {}
        }
    }
}

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
);
