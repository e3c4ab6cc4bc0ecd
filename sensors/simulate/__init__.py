"""The parts of the simulator (:mod:`sensors.simulator` is its entry point).

- :mod:`~sensors.simulate.physics`: outdoor weather and room models, pure and seeded;
- :mod:`~sensors.simulate.layout`: the simulated sites, rooms and sensors, and their registry;
- :mod:`~sensors.simulate.faults`: fault kinds and the ``KIND:TARGET[@START][+DURATION]`` syntax;
- :mod:`~sensors.simulate.encoders`: readings as each device format publishes them;
- :mod:`~sensors.simulate.engine`: the run, as a stream of messages with expected readings;
- :mod:`~sensors.simulate.publisher`: paced, acknowledged publishing over MQTT.
"""
