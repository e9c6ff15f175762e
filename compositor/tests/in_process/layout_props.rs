//! The host-to-logical layout under random monitor arrangements and random changes to them:
//! `layout::verify_invariants` after every change, and the layout depends on where the
//! monitors are relative to each other only.

use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use wayrail_compositor::layout::{logical_origins, verify_invariants};

use crate::host_layouts::{config, describe, layout, layout_op, LayoutOp, LayoutSpec};

/// Host layout sequences run in CI.
const SEQUENCES: u32 = 1500;

fn check_sequence(spec: &LayoutSpec, ops: &[LayoutOp], shift: (i32, i32)) -> Result<usize, TestCaseError> {
    let mut monitors = spec.build();
    let mut checked = 0;
    let mut history = format!("start:\n{}", describe(&monitors));
    for step in 0..=ops.len() {
        if step > 0 {
            if !ops[step - 1].apply(&mut monitors) {
                continue;
            }
            history += &format!("\nafter {:?}:\n{}", ops[step - 1], describe(&monitors));
        }
        let origins = logical_origins(&monitors);
        verify_invariants(&monitors, &origins)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{history}\nlogical origins: {origins:?}")))?;
        let mut moved = monitors.clone();
        for m in &mut moved {
            m.rect.x += shift.0;
            m.rect.y += shift.1;
        }
        let shifted = logical_origins(&moved);
        if shifted != origins {
            return Err(TestCaseError::fail(format!(
                "moving every monitor by {shift:?} changed the logical origins from {origins:?} to {shifted:?}\n{history}"
            )));
        }
        checked += 1;
    }
    Ok(checked)
}

#[test]
fn random_host_layouts_and_changes_keep_the_layout_invariants() {
    let sequences = Cell::new(0u32);
    let layouts = Cell::new(0usize);
    let strategy = (layout(), prop::collection::vec(layout_op(), 0..12), (-5000..5000, -5000..5000));
    let config = config(SEQUENCES);
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |(spec, ops, shift)| {
        sequences.set(sequences.get() + 1);
        layouts.set(layouts.get() + check_sequence(&spec, &ops, shift)?);
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
    println!("{} host layout sequences, {} layouts checked", sequences.get(), layouts.get());
    assert_eq!(sequences.get(), cases);
}
