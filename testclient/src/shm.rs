//! wl_shm buffers: ARGB8888 pixels in memfds.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::Context;
use wayland_client::protocol::{wl_buffer, wl_shm};
use wayland_client::QueueHandle;

use crate::{Base, Client};

/// A memfd of `len` bytes.
pub fn memfd(len: usize) -> anyhow::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create("wayrail-testclient", rustix::fs::MemfdFlags::CLOEXEC).context("memfd_create")?;
    rustix::fs::ftruncate(&fd, len as u64).context("ftruncate")?;
    Ok(fd)
}

/// An ARGB8888 wl_buffer in its own memfd, mapped for drawing; the client draws into it in
/// place (the compositor reads the same pages). Dropping it unmaps the memory and leaves the
/// wl_buffer alone: [`ShmBuffer::destroy`] destroys it.
pub struct ShmBuffer {
    pub wl_buffer: wl_buffer::WlBuffer,
    pub width: i32,
    pub height: i32,
    map: *mut u32,
    _fd: OwnedFd,
}

impl ShmBuffer {
    pub fn new<C: Client>(shm: &wl_shm::WlShm, qh: &QueueHandle<C>, width: i32, height: i32) -> anyhow::Result<Self> {
        use rustix::mm::{MapFlags, ProtFlags};
        anyhow::ensure!(width > 0 && height > 0, "buffer size {width}x{height}");
        let len = width as usize * height as usize * 4;
        let fd = memfd(len)?;
        // SAFETY: a fresh shared mapping of a file we own, unmapped in Drop.
        let map = unsafe {
            rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &fd, 0)
        }
        .context("mmap")?;
        let pool = shm.create_pool(fd.as_fd(), len as i32, qh, ());
        let wl_buffer = pool.create_buffer(0, width, height, width * 4, wl_shm::Format::Argb8888, qh, ());
        pool.destroy();
        Ok(Self { wl_buffer, width, height, map: map.cast(), _fd: fd })
    }

    fn len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// The pixels, 0xAARRGGBB, row by row.
    pub fn pixels_mut(&mut self) -> &mut [u32] {
        // SAFETY: the mapping holds width*height pixels, is page-aligned and lives as long as
        // self; `&mut self` makes this the only slice of it.
        unsafe { std::slice::from_raw_parts_mut(self.map, self.len()) }
    }

    pub fn pixel(&self, x: i32, y: i32) -> u32 {
        assert!((0..self.width).contains(&x) && (0..self.height).contains(&y), "({x},{y}) outside the buffer");
        // SAFETY: inside the mapping (checked above); a plain read of shared memory.
        unsafe { self.map.add((y * self.width + x) as usize).read() }
    }

    pub fn fill(&self, color: u32) {
        self.fill_rect(0, 0, self.width, self.height, color);
    }

    /// Fills a rectangle with one colour (0xAARRGGBB). Panics when it leaves the buffer.
    pub fn fill_rect(&self, x: i32, y: i32, width: i32, height: i32, color: u32) {
        assert!(x >= 0 && y >= 0 && x + width <= self.width && y + height <= self.height, "rect outside the buffer");
        for row in y..y + height {
            // SAFETY: the row segment lies inside the mapping (checked above); ShmBuffer is
            // neither Send nor Sync and hands out no slice while `&self` is borrowed.
            let row = unsafe {
                std::slice::from_raw_parts_mut(self.map.add((row * self.width + x) as usize), width as usize)
            };
            row.fill(color);
        }
    }

    pub fn destroy(&self) {
        self.wl_buffer.destroy();
    }
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping made in new(), not used after this.
        let _ = unsafe { rustix::mm::munmap(self.map.cast(), self.len() * 4) };
    }
}

/// The user data of a buffer made for one commit: it is destroyed when the compositor
/// releases it.
pub struct OneShotBuffer;

impl OneShotBuffer {
    /// A `width`x`height` buffer holding `pixels` (0xAARRGGBB, row by row).
    pub fn create<C: Client>(
        shm: &wl_shm::WlShm,
        qh: &QueueHandle<C>,
        width: i32,
        height: i32,
        pixels: &[u32],
    ) -> anyhow::Result<wl_buffer::WlBuffer> {
        anyhow::ensure!(pixels.len() == (width * height) as usize, "{} pixels for {width}x{height}", pixels.len());
        let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
        let fd = memfd(bytes.len())?;
        rustix::io::pwrite(&fd, &bytes, 0).context("filling the buffer")?;
        let pool = shm.create_pool(fd.as_fd(), bytes.len() as i32, qh, ());
        let buffer = pool.create_buffer(0, width, height, width * 4, wl_shm::Format::Argb8888, qh, OneShotBuffer);
        pool.destroy();
        Ok(buffer)
    }
}

impl Base {
    /// A mapped [`ShmBuffer`] filled with `color`.
    pub fn create_buffer<C: Client>(
        &self,
        qh: &QueueHandle<C>,
        width: i32,
        height: i32,
        color: u32,
    ) -> anyhow::Result<ShmBuffer> {
        let buffer = ShmBuffer::new(self.shm()?, qh, width, height)?;
        buffer.fill(color);
        Ok(buffer)
    }

    /// A buffer made for one commit, destroyed when released (see [`OneShotBuffer`]).
    pub fn one_shot_buffer<C: Client>(
        &self,
        qh: &QueueHandle<C>,
        width: i32,
        height: i32,
        pixels: &[u32],
    ) -> anyhow::Result<wl_buffer::WlBuffer> {
        OneShotBuffer::create(self.shm()?, qh, width, height, pixels)
    }
}

/// `width`x`height` pixels made by `pixel(x, y)`, row by row.
pub fn pattern(width: i32, height: i32, pixel: impl Fn(i32, i32) -> u32) -> Vec<u32> {
    (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).map(|(x, y)| pixel(x, y)).collect()
}

/// A one-pixel checkerboard of two colours, `a` at the origin.
pub fn checker(a: u32, b: u32) -> impl Fn(i32, i32) -> u32 {
    move |x, y| if (x + y) % 2 == 1 { b } else { a }
}

/// Fills a rectangle of a `stride`-wide pixel array; returns it as damage `(x, y, w, h)`.
pub fn fill_rect(pixels: &mut [u32], stride: i32, rect: (i32, i32, i32, i32), color: u32) -> (i32, i32, i32, i32) {
    let (x, y, w, h) = rect;
    for row in y..y + h {
        let start = (row * stride + x) as usize;
        pixels[start..start + w as usize].fill(color);
    }
    rect
}

/// The smallest rectangle holding both (x, y, w, h) rectangles.
pub fn union(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> (i32, i32, i32, i32) {
    let (l, t) = (a.0.min(b.0), a.1.min(b.1));
    let (r, bottom) = ((a.0 + a.2).max(b.0 + b.2), (a.1 + a.3).max(b.1 + b.3));
    (l, t, r - l, bottom - t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_go_row_by_row() {
        assert_eq!(pattern(3, 2, |x, y| (y * 10 + x) as u32), [0, 1, 2, 10, 11, 12]);
        assert_eq!(pattern(2, 2, checker(7, 9)), [7, 9, 9, 7]);
    }

    #[test]
    fn rects_fill_and_unite() {
        let mut px = vec![0u32; 4 * 3];
        assert_eq!(fill_rect(&mut px, 4, (1, 1, 2, 2), 5), (1, 1, 2, 2));
        assert_eq!(px, [0, 0, 0, 0, 0, 5, 5, 0, 0, 5, 5, 0]);
        assert_eq!(union((1, 1, 1, 1), (3, 0, 1, 1)), (1, 0, 3, 2));
        assert_eq!(union((0, 0, 4, 4), (1, 1, 1, 1)), (0, 0, 4, 4));
    }
}
