"""The healthcheck service: vrrp_script, track_file and track_process checks, results on the bus."""
