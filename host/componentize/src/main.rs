//! `ian-componentize <in.wasm> <out.wasm> [<in.wasm> <out.wasm> ...]`
//!
//! Turns each core module into a component (components are copied through).
//! Takes many pairs so a build script converts every guest in one process;
//! an output whose bytes would not change is left untouched, keeping its
//! modification time, so repeated builds stay cheap and incremental.

use std::path::PathBuf;

use anyhow::{Context, bail};
use ian_componentize::{InputKind, componentize};

fn main() -> anyhow::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.is_empty() || !args.len().is_multiple_of(2) {
        bail!(
            "usage: ian-componentize <in.wasm> <out.wasm> [<in.wasm> <out.wasm> ...] \
             (got {} argument(s); inputs and outputs must come in pairs)",
            args.len()
        );
    }
    for pair in args.chunks(2) {
        let (input, output) = (&pair[0], &pair[1]);
        let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
        let component =
            componentize(&bytes).with_context(|| format!("componentizing {}", input.display()))?;
        let unchanged = std::fs::read(output).is_ok_and(|old| old == component.bytes);
        if !unchanged {
            if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(output, &component.bytes)
                .with_context(|| format!("writing {}", output.display()))?;
        }
        let what = match component.input {
            InputKind::CoreModule => "encoded",
            InputKind::Component => "copied",
        };
        println!(
            "{} {} -> {} ({} bytes){}",
            what,
            input.display(),
            output.display(),
            component.bytes.len(),
            if unchanged { ", unchanged" } else { "" }
        );
    }
    Ok(())
}
