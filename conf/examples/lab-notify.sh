#!/bin/sh
# The lab's notify script: keepalived's arguments (INSTANCE VI_1 MASTER 102) into a file
# next to this node's configuration, where `make lab` shows them.
echo "$(date +%T) $*" >> "$(dirname "$0")/notify.log"
