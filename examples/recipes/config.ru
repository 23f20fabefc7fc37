# A tiny Rack app for the Puma recipe: it answers each request with the
# handoff generation, process and worker that served it.
run lambda { |env|
  body = "gen=#{ENV.fetch('HANDOFF_GENERATION', '-')} pid=#{Process.pid} " \
         "worker=#{ENV.fetch('HANDOFF_WORKER', '-')} hello from puma\n"
  [200, { 'Content-Type' => 'text/plain',
          'Content-Length' => body.bytesize.to_s }, [body]]
}
