#!/bin/sh
# Native tests: the policy compiled for this machine with cc.
set -eu
cd "$(dirname "$0")"
mkdir -p build
cc -std=c11 -O2 -Wall -Werror -o build/test test.c momentum.c
./build/test
