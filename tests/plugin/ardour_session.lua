-- The Ardour side of tests/plugin/test_ardour.py, run by ardour7-lua
-- (Ardour's headless Lua session tool) on Ardour's "None (Dummy)" audio
-- backend, whose inputs play pink noise:
--
--   ardour7-lua ardour_session.lua STEP DIR NAME [NUMBERS...]
--
-- setup  DIR NAME                create the session: tracks "stereo" and
--                                "mono" (one output, no panner) with valar,
--                                MIDI tracks "cc-stereo" and "cc-mono"
--                                taking their MIDI, "tap-stereo" and
--                                "tap-mono" taking their audio outputs, a
--                                track "live" with valar on a live input
-- play   DIR NAME END LOC_AT LOC_TO
--                                roll 0..END with Ardour's defaults,
--                                recording the taps (what the plugins
--                                passed, so what they heard); then without
--                                declick: roll 0..LOC_AT, locate to LOC_TO
--                                while rolling, roll to END
-- record DIR NAME SECONDS        record takes on "live" under external
--                                monitoring, software monitoring, and
--                                external with the track's monitoring In
-- reload DIR NAME END            after a reload: settings, one roll 0..END
--                                without declick recording the MIDI
--                                tracks; then mute all but "stereo" for
--                                the export
--
-- Output lines the test reads:
--   P <pass> <track> <sample before> <sample after> <arousal> <valence>
--                      every 20 ms while rolling, with the transport
--                      positions read around the outputs
--   M <pass> <what>    a marker, e.g. the locate
--   I <key> <value...> facts
local step, dir, name = arg[1], arg[2], arg[3]
local num = function(i) return tonumber(arg[i]) end
local NOGROUP = PBD.GroupControlDisposition.NoGroup
local UI = ARDOUR.TransportRequestSource.TRS_UI

-- Flushed: a crash must not swallow what was printed before it.
local function info(key, ...)
  local t = {...}
  for i = 1, #t do t[i] = tostring(t[i]) end
  print("I " .. key .. " " .. table.concat(t, " "))
  io.stdout:flush()
end

-- The backend must be chosen before a session starts the engine.
local backend = AudioEngine:set_backend("None (Dummy)", "", "")
assert(backend, "no Dummy backend")
backend:set_device_name("Pink Noise")
backend:set_buffer_size(512)

local function valar_insert(track)
  local r = Session:route_by_name(track)
  assert(not r:isnil(), "no track " .. track)
  for i = 0, 16 do
    local p = r:nth_plugin(i)
    if p:isnil() then break end
    if p:display_name():find("valar") then return p:to_plugininsert() end
  end
  error("no valar on " .. track)
end

-- The control-port number get/set_plugin_insert_param take, by port name.
local function param(pi, label)
  local plug, n = pi:plugin(0), 0
  for i = 0, plug:parameter_count() - 1 do
    if plug:parameter_is_control(i) then
      if plug:parameter_label(i) == label then return n end
      n = n + 1
    end
  end
  error("no control " .. label)
end

local function add_valar(track, uri)
  local p = ARDOUR.LuaAPI.new_plugin(Session, uri, ARDOUR.PluginType.LV2, "")
  assert(not p:isnil(), "Ardour cannot load " .. uri .. " (LV2_PATH?)")
  assert(track:add_processor_by_index(p, 0, nil, true) == 0, "cannot insert " .. uri)
  return p:to_plugininsert()
end

-- Print the outputs of the valar inserts every 20 ms until cond() is false,
-- with the transport position before and after reading them (this thread
-- may be descheduled in between).
local function poll(pass, inserts, cond)
  while cond() do
    for track, pi in pairs(inserts) do
      local s0 = Session:transport_sample()
      local a = ARDOUR.LuaAPI.get_plugin_insert_param(pi, 0, false)
      local v = ARDOUR.LuaAPI.get_plugin_insert_param(pi, 1, false)
      print(string.format("P %s %s %d %d %.9g %.9g", pass, track, s0,
        Session:transport_sample(), a, v))
    end
    ARDOUR.LuaAPI.usleep(20000)
  end
end

local function wait_for(cond, what)
  local t0 = ARDOUR.LuaAPI.monotonic_time()
  while not cond() do
    assert(ARDOUR.LuaAPI.monotonic_time() - t0 < 20e6, "timed out: " .. what)
    ARDOUR.LuaAPI.usleep(5000)
  end
end

-- Record-enable, monitoring and mute are applied by the process thread:
-- set and wait until they are.
local function set_rt(control, value, what)
  control:set_value(value, NOGROUP)
  wait_for(function() return control:get_value() == value end, what)
end

local function locate(sample)
  Session:request_locate(sample, false, ARDOUR.LocateTransportDisposition.MustStop, UI)
  wait_for(function() return Session:transport_sample() == sample end, "locate")
end

local function roll()
  Session:request_roll(UI)
  wait_for(function() return Session:transport_rolling() end, "roll")
end

local function stop()
  Session:request_stop(false, false, UI)
  wait_for(function() return Session:transport_stopped() end, "stop")
  sleep(0.3) -- the butler writes captures
end

local function before(sample) return function() return Session:transport_sample() < sample end end

-- "I take LABEL FILE...": the files of the region a track recorded at 0
-- (the top one: the last take), one per channel.
local function take(track, label)
  local r = Session:route_by_name(track):to_track():playlist():top_region_at(Temporal.timepos_t(0))
  local paths = {}
  for c = 0, r:isnil() and -1 or r:master_sources():size() - 1 do
    paths[#paths + 1] = r:source(c):to_filesource():path()
  end
  info("take", label or track, #paths > 0 and table.concat(paths, " ") or "none")
end

local function arm(tracks, on)
  for _, t in ipairs(tracks) do
    set_rt(Session:route_by_name(t):to_track():rec_enable_control(), on and 1 or 0, "arm " .. t)
  end
end

local steps = {}

function steps.setup()
  assert(create_session(dir, name, 48000), "cannot create the session")
  info("engine", backend:device_name(), Session:nominal_sample_rate(), Session:get_block_size())
  local order, normal = ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal
  local st = Session:new_audio_track(2, 2, nil, 1, "stereo", order, normal, true):front()
  local mo = Session:new_audio_track(1, 1, nil, 1, "mono", order, normal, true):front()
  local live = Session:new_audio_track(1, 2, nil, 1, "live", order, normal, true):front()
  local m1 = ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1)
  -- Tracks fed by other tracks are made without input auto-connection:
  -- Ardour connects inputs to the hardware asynchronously, after any
  -- disconnect_all() here.
  local function midi_track(name)
    return Session:new_midi_track(m1, m1, false, ARDOUR.PluginInfo(), nil, nil, 1, name,
      order, normal, false):front()
  end
  -- Strict I/O, on for tracks made in Ardour's dialog by default, sizes
  -- the plugin's outputs to the track's inputs: no MIDI. ("live" needs
  -- none. Switching it on and off again at once races in Ardour 7.3: "Port
  -- already exists", then an abort.)
  live:set_strict_io(true)
  local plive = add_valar(live, "urn:valar:lv2:mono")
  info("strict_io_on_midi_outputs", plive:output_streams():n_midi(),
    live:output():n_ports():n_midi())
  st:set_strict_io(false)
  mo:set_strict_io(false)
  local pst = add_valar(st, "urn:valar:lv2:stereo")
  local pmo = add_valar(mo, "urn:valar:lv2:mono")
  info("strict_io_off_midi_outputs", pst:output_streams():n_midi(), st:output():n_ports():n_midi(),
    pmo:output_streams():n_midi(), mo:output():n_ports():n_midi())
  -- Each track's MIDI into a MIDI track of its own (a MIDI track fed by
  -- two tracks recorded incompletely in Ardour 7.3).
  for _, t in ipairs({st, mo}) do
    local cc = midi_track("cc-" .. t:name())
    info("connect", t:name(), t:output():midi(0):connect(cc:input():midi(0):name()))
  end
  -- Taps: record each track's output (the plugins pass the audio unchanged).
  for _, t in ipairs({st, mo}) do
    local n = t:n_inputs():n_audio()
    local tap = Session:new_audio_track(n, n, nil, 1, "tap-" .. t:name(), order, normal, false):front()
    for c = 0, n - 1 do
      info("tap", t:name(), c, tap:input():audio(c):connect(t:output():audio(c):name()))
    end
  end
  for label, v in pairs({["MIDI Channel"] = 2, ["Arousal CC"] = 22, ["Valence CC"] = 23,
                         ["14-bit CC"] = 1}) do
    ARDOUR.LuaAPI.set_plugin_insert_param(pmo, param(pmo, label), v)
  end
  info("monitoring_model_default", ARDOUR.config():get_monitoring_model(),
    "external", ARDOUR.MonitorModel.ExternalMonitoring)
  info("transport_fades_default", Session:cfg():get_use_transport_fades())
  info("port_resampler_quality", ARDOUR.config():get_port_resampler_quality())
  Session:save_state("")
end

function steps.play()
  local stop_at, loc_at, loc_to = num(4), num(5), num(6)
  assert(load_session(dir, name), "cannot load the session")
  local ins = {stereo = valar_insert("stereo"), mono = valar_insert("mono")}
  -- 1: Ardour's defaults (declick on).
  info("transport_fades", Session:cfg():get_use_transport_fades())
  arm({"tap-stereo", "tap-mono"}, true)
  locate(0)
  sleep(0.7) -- the plugins analyse the stopped transport's silence meanwhile
  Session:maybe_enable_record(false)
  roll()
  poll("declick", ins, before(stop_at))
  stop()
  Session:disable_record(false, false)
  arm({"tap-stereo", "tap-mono"}, false)
  take("tap-stereo")
  take("tap-mono")
  -- 2: no declick; a locate while rolling.
  Session:cfg():set_use_transport_fades(false)
  locate(0)
  sleep(0.7)
  roll()
  poll("exact", ins, before(loc_at))
  print("M exact locate")
  Session:request_locate(loc_to, false, ARDOUR.LocateTransportDisposition.MustRoll, UI)
  local jumped = false -- back below loc_at: the locate happened
  poll("exact", ins, function()
    local s = Session:transport_sample()
    jumped = jumped or s < loc_at
    return not jumped or s < stop_at
  end)
  stop()
  Session:cfg():set_use_transport_fades(true)
  Session:save_state("")
end

function steps.record()
  local seconds = num(4)
  assert(load_session(dir, name), "cannot load the session")
  local live = Session:route_by_name("live"):to_track()
  local ins = {live = valar_insert("live")}
  arm({"live"}, true)
  local function record(pass, model, choice)
    ARDOUR.config():set_monitoring_model(model)
    set_rt(live:monitoring_control(), choice, "monitoring")
    locate(0)
    sleep(0.7)
    Session:maybe_enable_record(false)
    roll()
    info("monitoring_state", pass, live:monitoring_state())
    poll(pass, ins, before(math.floor(seconds * 48000)))
    stop()
    take("live", pass)
  end
  record("external", ARDOUR.MonitorModel.ExternalMonitoring, ARDOUR.MonitorChoice.MonitorAuto)
  record("software", ARDOUR.MonitorModel.SoftwareMonitoring, ARDOUR.MonitorChoice.MonitorAuto)
  record("input", ARDOUR.MonitorModel.ExternalMonitoring, ARDOUR.MonitorChoice.MonitorInput)
  arm({"live"}, false)
  Session:save_state("")
end

function steps.reload()
  local stop_at = num(4)
  assert(load_session(dir, name), "cannot load the session")
  local ins = {stereo = valar_insert("stereo"), mono = valar_insert("mono")}
  for _, label in ipairs({"MIDI Channel", "Arousal CC", "Valence CC", "14-bit CC",
                          "Restart with Transport"}) do
    info("param", label:gsub(" ", "_"),
      ARDOUR.LuaAPI.get_plugin_insert_param(ins.mono, param(ins.mono, label), false))
  end
  info("strict_io", valar_insert("stereo"):strict_io_configured(),
    Session:route_by_name("stereo"):strict_io())
  Session:cfg():set_use_transport_fades(false)
  arm({"cc-stereo", "cc-mono"}, true)
  locate(0)
  sleep(0.7)
  Session:maybe_enable_record(false)
  roll()
  poll("reload", ins, before(stop_at))
  stop()
  take("cc-stereo")
  take("cc-mono")
  Session:cfg():set_use_transport_fades(true)
  -- Only "stereo" reaches the master bus in the export.
  for _, t in ipairs({"mono", "live", "cc-stereo", "cc-mono", "tap-stereo", "tap-mono"}) do
    set_rt(Session:route_by_name(t):mute_control(), 1, "mute " .. t)
  end
  Session:save_state("")
end

-- The step's references to tracks and plugins are its locals: gone with
-- it, so the collector releases them while the session still exists (held
-- until luasession deletes its Lua state after the engine has gone, a
-- track's destructor unregisters its ports from a freed port manager).
assert(steps[step], "unknown step " .. tostring(step))()
collectgarbage()
collectgarbage()
close_session()
info("closed", step)
quit()
