//! RemoteApp in the RDP session: what rail-shell decides, carried as PDUs.

use ironrdp_pdu::fast_path::UpdateCode;
use ironrdp_pdu::window::WindowingOrder;
pub use wayrail_rail::host::{move_size_type, Actions, Mapping, RailCommand, RailState};

use crate::egfx::DesktopSurface;

impl wayrail_rail::host::WindowSurface for DesktopSurface {
    fn surface_id(&self) -> u16 {
        self.surface_id
    }
    fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }
}

/// The fast-path bytes for these orders.
pub fn orders_bytes(orders: &[WindowingOrder]) -> anyhow::Result<Vec<u8>> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let data = wayrail_rail::orders::update_data(orders)?;
    crate::pointer::fast_path(UpdateCode::Orders, &data)
}
