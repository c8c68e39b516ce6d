#!/bin/bash
# The lab's health check: does the web server on this node accept a connection?
exec 3<>/dev/tcp/127.0.0.1/80
