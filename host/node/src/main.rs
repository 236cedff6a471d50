//! `ian-host`: the thin binary over the `ian_node` library. Everything,
//! flag parsing included, is [`ian_node::cli::main`].

fn main() {
    std::process::exit(ian_node::cli::main());
}
