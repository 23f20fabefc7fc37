# Puma settings for the handoff recipe (puma.ini passes -C puma.rb).
#
# By default Puma hands a connection it accepted to its reactor until the
# request arrives, and on a graceful stop the reactor closes every connection
# whose request has not arrived yet: under load, a reload would drop the
# few connections the old generation accepted just before its stop. Without
# the reactor a worker thread reads each request it accepts, and a stop
# waits for those threads to answer.
queue_requests false
