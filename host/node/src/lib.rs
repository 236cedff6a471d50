//! ian-node: the node library behind the ian-host binary.
