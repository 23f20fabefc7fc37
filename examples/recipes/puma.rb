# Puma settings for the handoff recipe (puma.ini passes -C puma.rb).
#
# By default Puma hands a connection it accepted to its reactor until the
# request arrives, and on a graceful stop the reactor closes every connection
# whose request has not arrived yet: under load, a reload would drop the
# few connections the old generation accepted just before its stop. Without
# the reactor a worker thread reads each request it accepts, and a stop
# waits for those threads to answer.
#
# What it costs: Puma keeps no connection alive between requests, and a
# slow client holds a worker thread until its request has arrived. Put a
# reverse proxy that buffers the clients (nginx, say) in front of it.
queue_requests false
