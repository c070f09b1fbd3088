//! Answers `started`, then on the caller's first words allocates 1 MiB chunks
//! forever, writing to every page so none stays untouched: the memory limit
//! must stop it.

use core::hint::black_box;

use cally_sdk::{Action, CallEvent, CallFlow};

const CHUNK: usize = 1 << 20;
const PAGE: usize = 64 << 10;

#[derive(Default)]
struct MemoryBomb;

impl CallFlow for MemoryBomb {
    fn on_event(&mut self, event: CallEvent) -> Vec<Action> {
        match event {
            CallEvent::Speech(_) => hoard(),
            _ => vec![Action::say("ready")],
        }
    }
}

fn hoard() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for page in chunk.chunks_mut(PAGE) {
            page[0] = 0xAB;
            page[page.len() - 1] = 0xCD;
        }
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}

cally_sdk::export_call_flow!(MemoryBomb);
